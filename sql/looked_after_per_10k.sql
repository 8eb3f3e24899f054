-- id: looked_after_per_10k
-- title: Children looked after per 10,000 children
-- description: Children in an episode of care open at the end of the period, per 10,000 children aged 0-17 (by home postcode when the episode started).
-- unit: per 10,000 children aged 0-17 (at the period's end)
-- polarity: neutral
-- multiplier: 10000
-- numerator: children looked after at the end of the period
-- denominator: children aged 0-17, mid-year population estimate
-- aggregation: stock
-- sources: childrens_services/cla_episodes
-- owner: childrens_services
-- theme: Children in care
SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(DISTINCT coalesce(l.child_key, e.person_key)) AS numerator,
    coalesce(p.children, 0) AS denominator
FROM month_district_grid AS g
LEFT JOIN district_children(0, 17) AS p ON g.district_code = p.district_code
LEFT JOIN childrens_services__cla_episodes AS e
    ON
        g.district_code IS NOT DISTINCT FROM e.district_code
        AND e.episode_start <= last_day(g.period_month)
        AND (e.episode_end IS NULL OR e.episode_end > last_day(g.period_month))
LEFT JOIN child_link AS l ON e.person_key = l.person_key
GROUP BY ALL
