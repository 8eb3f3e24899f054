-- id: early_help_stepped_up_within_12_months
-- title: Early help episodes stepped up to children's social care within 12 months (%)
-- description: Of the early help episodes that started 12 months before the period (so that every one has had its full 12 months), the share whose child was referred to children's social care after the episode started and no more than 12 months after (a referral in the contacts data; children linked by the child key, whatever the episode's recorded closure reason). By sex, by ethnic group (DfE major groups, reference/ethnic_groups.csv; refused or not obtained in no part) and by SEND (SEN provision at the child's latest school census on or before the start; a child on no census yet, most under five, in no part). A quarter or year counts the episodes that started in the quarter or year 12 months earlier.
-- unit: % of early help episodes
-- polarity: neutral
-- multiplier: 100
-- numerator: episodes whose child was referred to children's social care within 12 months of the start
-- denominator: early help episodes that started 12 months before the period
-- denominator_type: count
-- complement: episodes whose child was not referred to children's social care within 12 months
-- sources: childrens_services/early_help_episodes, childrens_services/contacts, education/school_census
-- owner: childrens_services
-- theme: Early help
WITH referrals AS (
    SELECT
        l.child_key,
        c.referral_date
    FROM childrens_services__contacts AS c
    INNER JOIN child_link AS l ON c.person_key = l.person_key
    WHERE c.referral_date IS NOT NULL
),

census AS (
    SELECT
        l.child_key,
        s.census_date,
        s.sen
    FROM education__school_census AS s
    INNER JOIN child_link AS l ON s.person_key = l.person_key
),

episodes AS (
    SELECT
        -- counted in the month its 12 months end
        CAST(e.event_month + INTERVAL 12 MONTH AS DATE) AS period_month,
        e.district_code,
        e.sex,
        g.ethnic_group,
        (
            SELECT
                CASE arg_max(c.sen, c.census_date)
                    WHEN 'N' THEN 'No SEN' WHEN 'K' THEN 'SEN support' WHEN 'E' THEN 'EHC plan'
                END
            FROM census AS c
            WHERE c.child_key = l.child_key AND c.census_date <= e.episode_start
        ) AS send,
        EXISTS (
            SELECT 1
            FROM referrals AS r
            WHERE
                r.child_key = l.child_key
                AND r.referral_date > e.episode_start
                AND r.referral_date <= e.episode_start + INTERVAL 12 MONTH
        ) AS stepped_up
    FROM childrens_services__early_help_episodes AS e
    LEFT JOIN child_link AS l ON e.person_key = l.person_key
    LEFT JOIN ref_ethnic_group AS g ON e.ethnicity = g.code
),

parts AS (
    SELECT
        e.*,
        b.breakdown
    FROM episodes AS e, unnest(['all', 'sex:' || e.sex, 'ethnic_group:' || e.ethnic_group, 'send:' || e.send]) AS b (breakdown)
    WHERE b.breakdown IS NOT NULL
)

SELECT
    g.period_month,
    g.district_code,
    k.breakdown,
    count(p.period_month) FILTER (WHERE p.stepped_up) AS numerator,
    count(p.period_month) AS denominator
FROM month_district_grid AS g
CROSS JOIN (SELECT breakdown FROM parts UNION SELECT 'all') AS k
LEFT JOIN parts AS p
    ON
        g.period_month = p.period_month
        AND g.district_code IS NOT DISTINCT FROM p.district_code
        AND k.breakdown = p.breakdown
GROUP BY ALL
