-- id: self_harm_attendances_10_17_per_10k
-- title: Emergency attendances for self-harm, ages 10-17, per 10,000
-- description: Emergency department attendances with reason self-harm of children aged 10-17 at arrival, per 10,000 children aged 10-17 (by home postcode).
-- unit: per 10,000 children aged 10-17 (in the month)
-- polarity: higher is worse
-- multiplier: 10000
-- numerator: emergency attendances for self-harm of 10-17-year-olds in the month
-- denominator: children aged 10-17, mid-year population estimate
-- sources: health/ed_attendances
-- owner: health
-- theme: Emotional wellbeing
WITH self_harm AS (
    SELECT event_month, district_code, count(*) AS n
    FROM health__ed_attendances
    WHERE reason = 'Self-harm' AND age_years BETWEEN 10 AND 17 AND district_code IS NOT NULL
    GROUP BY ALL
)

SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    coalesce(s.n, 0) AS numerator,
    p.children AS denominator
FROM month_district_grid AS g
INNER JOIN district_children(10, 17) AS p ON g.district_code = p.district_code
LEFT JOIN self_harm AS s ON g.period_month = s.event_month AND g.district_code = s.district_code
