-- id: domestic_abuse_children_per_10k
-- title: Children present at domestic abuse incidents per 10,000 children
-- description: Children recorded by the police as present at a domestic abuse incident in the month, per 10,000 children aged 0-17 (by the child's home postcode).
-- unit: per 10,000 children aged 0-17 (in the month)
-- polarity: higher is worse
-- multiplier: 10000
-- numerator: children present at domestic abuse incidents in the month (one per child per incident)
-- denominator: children aged 0-17, mid-year population estimate
-- sources: police/domestic_abuse_incidents
-- owner: police
-- theme: Domestic abuse
WITH present AS (
    SELECT event_month, district_code, count(*) AS n
    FROM police__domestic_abuse_incidents
    WHERE district_code IS NOT NULL AND child_present IS NOT false
    GROUP BY ALL
)

SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    coalesce(e.n, 0) AS numerator,
    p.children AS denominator
FROM month_district_grid AS g
INNER JOIN district_children(0, 17) AS p ON g.district_code = p.district_code
LEFT JOIN present AS e ON g.period_month = e.event_month AND g.district_code = e.district_code
