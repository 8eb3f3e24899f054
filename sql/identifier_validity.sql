-- id: identifier_validity
-- title: Rows passing validation (%)
-- description: Of the rows partners delivered, the share that passed every blocking rule of their data contract (identifier check digits, dates, codes) and were loaded, by partner and by each partner's datasets (from the data-quality scorecard). Counted for the county only.
-- unit: % of rows received
-- polarity: higher is better
-- multiplier: 100
-- numerator: rows loaded
-- denominator: rows received
-- denominator_type: count
-- sources: dataset_quality
-- owner: partnership
-- theme: Data quality
-- thresholds: amber=98, red=95
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm)
WITH parts AS (
    SELECT DISTINCT 'partner:' || partner AS breakdown FROM dataset_quality
    UNION ALL
    -- each partner's datasets, nested in the partner (the data-quality scorecard's rows)
    SELECT DISTINCT 'partner/dataset:' || partner || '/' || dataset FROM dataset_quality
    UNION ALL
    SELECT 'all'
)

SELECT
    g.period_month,
    g.district_code,
    k.breakdown,
    coalesce(sum(q.rows_loaded) FILTER (WHERE g.district_code IS NULL), 0) AS numerator,
    coalesce(sum(q.rows_received) FILTER (WHERE g.district_code IS NULL), 0) AS denominator
FROM month_district_grid AS g
CROSS JOIN parts AS k
LEFT JOIN dataset_quality AS q
    ON g.period_month = q.period_month AND k.breakdown IN ('all', 'partner:' || q.partner, 'partner/dataset:' || q.partner || '/' || q.dataset)
GROUP BY ALL
