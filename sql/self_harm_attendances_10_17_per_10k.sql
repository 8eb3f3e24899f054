-- id: self_harm_attendances_10_17_per_10k
-- title: Emergency attendances for self-harm, ages 10-17, per 10,000
-- description: Emergency department attendances with reason self-harm of children aged 10-17 at arrival, per 10,000 children aged 10-17 (by home postcode), by age band.
-- unit: per 10,000 children aged 10-17
-- polarity: higher is worse
-- multiplier: 10000
-- numerator: emergency attendances for self-harm of 10-17-year-olds in the period
-- denominator: children aged 10-17, mid-year population estimate
-- sources: health/ed_attendances
-- owner: health
-- theme: Emotional wellbeing
SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(a.event_month) AS numerator,
    g.children AS denominator
FROM population_grid(10, 17) AS g
LEFT JOIN health__ed_attendances AS a
    ON
        g.period_month = a.event_month
        AND g.district_code IS NOT DISTINCT FROM a.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || a.age_band)
        AND a.reason = 'Self-harm'
        AND a.age_years BETWEEN 10 AND 17
GROUP BY ALL
