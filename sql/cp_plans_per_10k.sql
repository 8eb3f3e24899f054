-- id: cp_plans_per_10k
-- title: Children on a child protection plan per 10,000 children
-- description: Child protection plans open at the end of the period, per 10,000 children aged 0-17 (by home postcode when the plan started), by category of abuse.
-- unit: per 10,000 children aged 0-17 (at the period's end)
-- polarity: neutral
-- multiplier: 10000
-- numerator: plans open at the end of the period
-- denominator: children aged 0-17, mid-year population estimate
-- aggregation: stock
-- sources: childrens_services/cp_plans
-- owner: childrens_services
-- theme: Child protection
WITH grid AS (
    SELECT
        g.period_month,
        g.district_code,
        k.breakdown,
        coalesce(p.children, 0) AS children
    FROM month_district_grid AS g
    CROSS JOIN (
        SELECT 'all' AS breakdown
        UNION
        SELECT 'category:' || category FROM childrens_services__cp_plans WHERE category IS NOT NULL
    ) AS k
    LEFT JOIN district_children(0, 17) AS p ON g.district_code = p.district_code
)

SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(c.plan_start) AS numerator,
    g.children AS denominator
FROM grid AS g
LEFT JOIN childrens_services__cp_plans AS c
    ON
        g.district_code IS NOT DISTINCT FROM c.district_code
        AND c.plan_start <= last_day(g.period_month)
        AND (c.plan_end IS NULL OR c.plan_end > last_day(g.period_month))
        AND (g.breakdown = 'all' OR g.breakdown = 'category:' || c.category)
GROUP BY ALL
