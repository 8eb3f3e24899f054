-- id: repeat_cp_plans
-- title: Child protection plans that are a second or later plan (%)
-- description: Of the child protection plans that started in the period, the share for a child who had been on a plan before (at any time; children linked across records by the child key).
-- unit: % of plans started
-- polarity: higher is worse
-- multiplier: 100
-- numerator: plans started in the period for a child with an earlier plan
-- denominator: plans started in the period
-- denominator_type: count
-- complement: plans started in the period for a child with no earlier plan
-- sources: childrens_services/cp_plans
-- owner: childrens_services
-- theme: Child protection
-- thresholds: amber=23, red=28
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm)
WITH plans AS (
    SELECT
        c.event_month,
        c.district_code,
        c.age_band,
        coalesce(l.child_key IS NOT NULL AND min(c.plan_start) OVER (PARTITION BY l.child_key) < c.plan_start, false)
            AS repeat
    FROM childrens_services__cp_plans AS c
    LEFT JOIN child_link AS l ON c.person_key = l.person_key
)

SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(p.event_month) FILTER (WHERE p.repeat) AS numerator,
    count(p.event_month) AS denominator
FROM event_grid() AS g
LEFT JOIN plans AS p
    ON
        g.period_month = p.event_month
        AND g.district_code IS NOT DISTINCT FROM p.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || p.age_band)
GROUP BY ALL
