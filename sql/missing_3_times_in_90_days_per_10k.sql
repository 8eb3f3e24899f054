-- id: missing_3_times_in_90_days_per_10k
-- title: Children missing 3 or more times in 90 days, per 10,000 children
-- description: Children reported missing three or more times in the 90 days to the end of the period (children linked across records by the child key; placed by the home postcode of their latest episode), per 10,000 children aged 0-17.
-- unit: per 10,000 children aged 0-17 (at the period's end)
-- polarity: higher is worse
-- multiplier: 10000
-- numerator: children with 3 or more missing episodes reported in the 90 days to the period's end
-- denominator: children aged 0-17, mid-year population estimate
-- aggregation: stock
-- history_months: 3
-- sources: police/missing_episodes
-- owner: police
-- theme: Missing and exploitation
WITH episodes AS (
    SELECT
        e.district_code,
        CAST(e.reported_at AS DATE) AS reported,
        coalesce(l.child_key, e.person_key) AS child
    FROM police__missing_episodes AS e
    LEFT JOIN child_link AS l ON e.person_key = l.person_key
),

months AS (
    SELECT DISTINCT period_month, CAST(last_day(period_month) AS DATE) AS month_end FROM month_district_grid
),

repeated AS (
    SELECT
        m.period_month,
        e.child,
        arg_max(e.district_code, e.reported) AS district_code
    FROM months AS m
    INNER JOIN episodes AS e ON e.reported > m.month_end - INTERVAL 90 DAY AND e.reported <= m.month_end
    WHERE e.child IS NOT NULL
    GROUP BY ALL
    HAVING count(*) >= 3
)

SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(r.child) AS numerator,
    coalesce(p.children, 0) AS denominator
FROM month_district_grid AS g
LEFT JOIN district_children(0, 17) AS p ON g.district_code = p.district_code
LEFT JOIN repeated AS r ON g.period_month = r.period_month AND g.district_code IS NOT DISTINCT FROM r.district_code
GROUP BY ALL
