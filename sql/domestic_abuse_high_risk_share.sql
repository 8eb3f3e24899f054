-- id: domestic_abuse_high_risk_share
-- title: Domestic abuse incidents with children present assessed high risk (%)
-- description: Of the children present at domestic abuse incidents, the share at incidents the police assessed as high risk (DASH).
-- unit: % of children present
-- polarity: higher is worse
-- multiplier: 100
-- numerator: children present at incidents assessed high risk
-- denominator: children present at domestic abuse incidents in the period
-- denominator_type: count
-- complement: children present at incidents not assessed high risk
-- sources: police/domestic_abuse_incidents
-- owner: police
-- theme: Domestic abuse
SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(i.event_month) FILTER (WHERE i.risk_level = 'High') AS numerator,
    count(i.event_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN police__domestic_abuse_incidents AS i
    ON
        g.period_month = i.event_month
        AND g.district_code IS NOT DISTINCT FROM i.district_code
        AND i.child_present IS NOT false
GROUP BY ALL
