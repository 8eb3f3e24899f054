-- view: child_month
-- title: Multi-agency view: each linked child's involvement with each agency, by month
-- description: One row per child key and month in which any partner recorded something about the child. Children's services: contacts, highest threshold tier, open child protection plan, looked after. Police: domestic abuse incidents, missing episodes, exploitation flags. Health: emergency attendances, safeguarding referrals. Education: suspensions, persistent absence (the academic year's sessions missed, 10% or more). `agencies` counts the four agencies involved that month. District and locality are those of the child's latest record in the month.
-- sources: childrens_services/contacts, childrens_services/cp_plans, childrens_services/cla_episodes, police/domestic_abuse_incidents, police/missing_episodes, police/exploitation_flags, health/ed_attendances, health/safeguarding_referrals, education/suspensions, education/attendance
WITH linked AS (
    SELECT l.child_key, e.*
    FROM (
        SELECT person_key, 'cs' AS agency, event_month, contact_date AS event_at, district_code, locality_code,
               1 AS contacts, threshold_tier, 0 AS da, 0 AS missing, 0 AS flags, 0 AS ed, 0 AS hsr, 0 AS susp
        FROM childrens_services__contacts
        UNION ALL
        SELECT person_key, 'police', event_month, CAST(incident_at AS DATE), district_code, locality_code,
               0, NULL, 1, 0, 0, 0, 0, 0
        FROM police__domestic_abuse_incidents
        UNION ALL
        SELECT person_key, 'police', event_month, CAST(reported_at AS DATE), district_code, locality_code,
               0, NULL, 0, 1, 0, 0, 0, 0
        FROM police__missing_episodes
        UNION ALL
        SELECT person_key, 'police', event_month, flag_date, district_code, locality_code, 0, NULL, 0, 0, 1, 0, 0, 0
        FROM police__exploitation_flags
        UNION ALL
        SELECT person_key, 'health', event_month, CAST(arrival_at AS DATE), district_code, locality_code,
               0, NULL, 0, 0, 0, 1, 0, 0
        FROM health__ed_attendances
        UNION ALL
        SELECT person_key, 'health', event_month, referral_date, district_code, locality_code, 0, NULL, 0, 0, 0, 0, 1, 0
        FROM health__safeguarding_referrals
        UNION ALL
        SELECT person_key, 'education', event_month, start_date, district_code, locality_code,
               0, NULL, 0, 0, 0, 0, 0, 1
        FROM education__suspensions
    ) AS e
    INNER JOIN child_link AS l ON e.person_key = l.person_key
),

events AS (
    SELECT
        child_key,
        event_month AS period_month,
        arg_max(district_code, event_at) AS district_code,
        arg_max(locality_code, event_at) AS locality_code,
        sum(contacts) AS cs_contacts,
        max(threshold_tier) AS cs_threshold_tier,
        sum(da) AS police_domestic_abuse_incidents,
        sum(missing) AS police_missing_episodes,
        sum(flags) AS police_exploitation_flags,
        sum(ed) AS health_ed_attendances,
        sum(hsr) AS health_safeguarding_referrals,
        sum(susp) AS education_suspensions,
        list(DISTINCT agency) AS agency_list
    FROM linked
    WHERE event_month IS NOT NULL
    GROUP BY ALL
),

last_month AS (
    SELECT max(period_month) AS m FROM events
),

spells AS (
    SELECT l.child_key, 'cp' AS kind, CAST(date_trunc('month', p.plan_start) AS DATE) AS first_month,
           CAST(date_trunc('month', coalesce(p.plan_end, current_date)) AS DATE) AS last_month
    FROM childrens_services__cp_plans AS p INNER JOIN child_link AS l ON p.person_key = l.person_key
    UNION ALL
    SELECT l.child_key, 'cla', CAST(date_trunc('month', c.episode_start) AS DATE),
           CAST(date_trunc('month', coalesce(c.episode_end, current_date)) AS DATE)
    FROM childrens_services__cla_episodes AS c INNER JOIN child_link AS l ON c.person_key = l.person_key
),

open_months AS (
    SELECT child_key, CAST(m AS DATE) AS period_month, bool_or(kind = 'cp') AS cp_plan, bool_or(kind = 'cla') AS looked_after
    FROM spells, generate_series(first_month, last_month, INTERVAL 1 MONTH) AS s(m)
    WHERE m <= (SELECT l.m FROM last_month AS l)
    GROUP BY ALL
),

absence AS (
    SELECT
        l.child_key,
        CAST(left(a.academic_year, 4) || '-09-01' AS DATE) AS year_start,
        sum(a.authorised_absence + a.unauthorised_absence) >= 0.1 * sum(a.sessions_possible) AS persistent_absence
    FROM education__attendance AS a INNER JOIN child_link AS l ON a.person_key = l.person_key
    GROUP BY ALL
),

months AS (
    SELECT child_key, period_month FROM events
    UNION
    SELECT child_key, period_month FROM open_months
    UNION
    SELECT a.child_key, CAST(s.m AS DATE)
    FROM absence AS a, last_month AS l,
        generate_series(a.year_start, least(a.year_start + INTERVAL 11 MONTH, l.m), INTERVAL 1 MONTH) AS s(m)
    WHERE a.persistent_absence
)

SELECT
    m.child_key,
    m.period_month,
    e.district_code,
    e.locality_code,
    coalesce(e.cs_contacts, 0) AS cs_contacts,
    e.cs_threshold_tier,
    coalesce(o.cp_plan, false) AS cp_plan,
    coalesce(o.looked_after, false) AS looked_after,
    coalesce(e.police_domestic_abuse_incidents, 0) AS police_domestic_abuse_incidents,
    coalesce(e.police_missing_episodes, 0) AS police_missing_episodes,
    coalesce(e.police_exploitation_flags, 0) AS police_exploitation_flags,
    coalesce(e.health_ed_attendances, 0) AS health_ed_attendances,
    coalesce(e.health_safeguarding_referrals, 0) AS health_safeguarding_referrals,
    coalesce(e.education_suspensions, 0) AS education_suspensions,
    coalesce(a.persistent_absence, false) AS education_persistent_absence,
    len(list_distinct(
        coalesce(e.agency_list, [])
        || CASE WHEN o.cp_plan OR o.looked_after THEN ['cs'] ELSE [] END
        || CASE WHEN a.persistent_absence THEN ['education'] ELSE [] END
    )) AS agencies
FROM months AS m
LEFT JOIN events AS e ON m.child_key = e.child_key AND m.period_month = e.period_month
LEFT JOIN open_months AS o ON m.child_key = o.child_key AND m.period_month = o.period_month
LEFT JOIN absence AS a
    ON m.child_key = a.child_key AND m.period_month >= a.year_start AND m.period_month < a.year_start + INTERVAL 1 YEAR
