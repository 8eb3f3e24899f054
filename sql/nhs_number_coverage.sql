-- id: nhs_number_coverage
-- title: Records carrying a valid NHS number (%)
-- description: Of the rows loaded from partner datasets that have a NHS number column, the share carrying a valid NHS number (from the data-quality scorecard), by partner and by each partner's datasets. Records are counted for the county only.
-- unit: % of rows loaded
-- polarity: higher is better
-- multiplier: 100
-- numerator: rows loaded with a valid NHS number
-- denominator: rows loaded, in datasets with a NHS number column
-- denominator_type: count
-- sources: dataset_quality
-- owner: partnership
-- theme: Data quality
-- thresholds: amber=95, red=90
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm)
WITH parts AS (
    SELECT DISTINCT 'partner:' || partner AS breakdown FROM dataset_quality WHERE rows_with_nhs_number IS NOT NULL
    UNION ALL
    -- each partner's datasets, nested in the partner (the data-quality scorecard's rows)
    SELECT DISTINCT 'partner/dataset:' || partner || '/' || dataset FROM dataset_quality WHERE rows_with_nhs_number IS NOT NULL
    UNION ALL
    SELECT 'all'
)

SELECT
    g.period_month,
    g.district_code,
    k.breakdown,
    coalesce(sum(q.rows_with_nhs_number) FILTER (WHERE g.district_code IS NULL), 0) AS numerator,
    coalesce(sum(q.rows_loaded_with_nhs_column) FILTER (WHERE g.district_code IS NULL), 0) AS denominator
FROM month_district_grid AS g
CROSS JOIN parts AS k
LEFT JOIN dataset_quality AS q
    ON g.period_month = q.period_month AND k.breakdown IN ('all', 'partner:' || q.partner, 'partner/dataset:' || q.partner || '/' || q.dataset)
GROUP BY ALL
