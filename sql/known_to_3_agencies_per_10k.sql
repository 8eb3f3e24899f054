-- id: known_to_3_agencies_per_10k
-- title: Children known to 3 or more agencies in the last 12 months, per 10,000 children
-- description: Children involved with three or more of the four agencies (children's services, police, health, education) in the 12 months to the end of the period, from the multi-agency view (child_month), per 10,000 children aged 0-17. A child is placed by their latest known home district in those months.
-- unit: per 10,000 children aged 0-17 (at the period's end)
-- polarity: higher is worse
-- multiplier: 10000
-- numerator: children known to 3 or more agencies in the 12 months to the period's end
-- denominator: children aged 0-17, mid-year population estimate
-- aggregation: stock
-- history_months: 11
-- sources: child_month
-- owner: partnership
-- theme: Multi-agency
WITH involvement AS (
    SELECT
        -- a number per child: twelve windows grouped by the 64-character key need 600 MB more
        dense_rank() OVER (ORDER BY child_key) AS child,
        period_month,
        district_code,
        cs_contacts > 0 OR cp_plan OR looked_after AS cs,
        police_domestic_abuse_incidents + police_missing_episodes + police_exploitation_flags > 0 AS police,
        health_ed_attendances + health_safeguarding_referrals > 0 AS health,
        education_suspensions > 0 OR education_persistent_absence AS education
    FROM child_month
),

windows AS (
    SELECT
        m.period_month,
        i.child,
        arg_max(i.district_code, i.period_month) FILTER (WHERE i.district_code IS NOT NULL) AS district_code,
        bool_or(i.cs)::INT + bool_or(i.police)::INT + bool_or(i.health)::INT + bool_or(i.education)::INT AS agencies
    -- each month of involvement counts in the twelve windows that end in it or the 11 months after
    FROM involvement AS i,
        generate_series(i.period_month, i.period_month + INTERVAL 11 MONTH, INTERVAL 1 MONTH) AS s(window_end)
    INNER JOIN (SELECT DISTINCT period_month FROM month_district_grid) AS m ON CAST(s.window_end AS DATE) = m.period_month
    GROUP BY ALL
)

SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(w.child) AS numerator,
    coalesce(p.children, 0) AS denominator
FROM month_district_grid AS g
LEFT JOIN district_children(0, 17) AS p ON g.district_code = p.district_code
LEFT JOIN windows AS w
    ON g.period_month = w.period_month AND g.district_code IS NOT DISTINCT FROM w.district_code AND w.agencies >= 3
GROUP BY ALL
