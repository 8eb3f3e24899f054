-- id: missing_episodes_per_10k
-- title: Missing child episodes per 10,000 children
-- description: Episodes of children reported missing to the police, per 10,000 children aged 0-17 (by home postcode), by age band when reported.
-- unit: per 10,000 children aged 0-17
-- polarity: higher is worse
-- multiplier: 10000
-- numerator: missing episodes reported in the period
-- denominator: children aged 0-17, mid-year population estimate
-- sources: police/missing_episodes
-- owner: police
-- theme: Missing and exploitation
SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(e.event_month) AS numerator,
    g.children AS denominator
FROM population_grid(0, 17) AS g
LEFT JOIN police__missing_episodes AS e
    ON
        g.period_month = e.event_month
        AND g.district_code IS NOT DISTINCT FROM e.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || e.age_band)
GROUP BY ALL
