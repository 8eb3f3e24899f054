-- id: cp_plans_ended_after_2_years
-- title: Child protection plans that lasted 2 years or more (%)
-- description: Of the child protection plans that ended in the period, the share that had lasted two years or more.
-- unit: % of plans ended
-- polarity: higher is worse
-- multiplier: 100
-- numerator: plans ended in the period that had lasted 2 years or more
-- denominator: plans ended in the period
-- denominator_type: count
-- complement: plans ended in the period within 2 years
-- history_months: 24
-- sources: childrens_services/cp_plans
-- owner: childrens_services
-- theme: Child protection
-- thresholds: amber=3, red=5
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm); England's value (DfE Children in need, table D7) is in reference/comparators.csv
WITH ended AS (
    SELECT
        district_code,
        CAST(date_trunc('month', plan_end) AS DATE) AS end_month,
        plan_end >= plan_start + INTERVAL 2 YEAR AS long_plan
    FROM childrens_services__cp_plans
    WHERE plan_end IS NOT NULL
)

SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(e.end_month) FILTER (WHERE e.long_plan) AS numerator,
    count(e.end_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN ended AS e
    ON g.period_month = e.end_month AND g.district_code IS NOT DISTINCT FROM e.district_code
GROUP BY ALL
