-- id: repeat_cp_plans
-- title: Child protection plans that are a second or later plan within 2 years (%)
-- description: Of the child protection plans that started in the period, the share for a child who had started another plan in the 2 years before (children linked across records by the child key). Two years, not "at any time": the extract reaches back only to its first month, so "at any time" would read low for years.
-- unit: % of plans started
-- polarity: higher is worse
-- multiplier: 100
-- numerator: plans started in the period for a child who started another plan in the 2 years before
-- denominator: plans started in the period
-- denominator_type: count
-- complement: plans started in the period for a child with no other plan started in the 2 years before
-- history_months: 24
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
        coalesce(
            l.child_key IS NOT NULL
            AND max(c.plan_start) OVER (
                PARTITION BY l.child_key ORDER BY c.plan_start
                RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL 1 DAY PRECEDING
            ) >= c.plan_start - INTERVAL 2 YEAR,
            false
        ) AS repeat
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
