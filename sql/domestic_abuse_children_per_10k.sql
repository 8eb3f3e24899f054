-- id: domestic_abuse_children_per_10k
-- title: Children present at domestic abuse incidents per 10,000 children
-- description: Children recorded by the police as present at a domestic abuse incident, per 10,000 children aged 0-17 (by the child's home postcode), by age band at the incident.
-- unit: per 10,000 children aged 0-17
-- polarity: higher is worse
-- multiplier: 10000
-- numerator: children present at domestic abuse incidents in the period (one per child per incident)
-- denominator: children aged 0-17, mid-year population estimate
-- sources: police/domestic_abuse_incidents
-- owner: police
-- theme: Domestic abuse
SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(i.event_month) AS numerator,
    g.children AS denominator
FROM population_grid(0, 17) AS g
LEFT JOIN police__domestic_abuse_incidents AS i
    ON
        g.period_month = i.event_month
        AND g.district_code IS NOT DISTINCT FROM i.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || i.age_band)
        AND i.child_present IS NOT false
GROUP BY ALL
