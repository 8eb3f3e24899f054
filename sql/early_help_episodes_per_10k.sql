-- id: early_help_episodes_per_10k
-- title: Early help episodes started per 10,000 children
-- description: Episodes of early help started in the period, per 10,000 children aged 0-17 living in the area (by the child's home postcode), by age band at the start. There is no national equivalent: early help is not collected nationally.
-- unit: per 10,000 children aged 0-17
-- polarity: neutral
-- multiplier: 10000
-- numerator: early help episodes started in the period
-- denominator: children aged 0-17, mid-year population estimate
-- sources: childrens_services/early_help_episodes
-- owner: childrens_services
-- theme: Early help
SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(e.event_month) AS numerator,
    g.children AS denominator
FROM population_grid(0, 17) AS g
LEFT JOIN childrens_services__early_help_episodes AS e
    ON
        g.period_month = e.event_month
        AND g.district_code IS NOT DISTINCT FROM e.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || e.age_band)
GROUP BY ALL
