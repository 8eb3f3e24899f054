-- view: dataset_quality
-- title: Rows received and loaded, and identifier coverage, per partner dataset and month
-- description: The data-quality scorecard's counts for the data-quality metrics: rows received, rows loaded, and rows loaded with a valid NHS number or UPN (NULL where the dataset has no such column). The metrics publish them by partner and by partner/dataset, so the scorecard's dataset rows are protected with the partner totals they add up to.
-- sources: dq_monthly
SELECT
    period_month,
    partner,
    dataset,
    rows_received,
    rows_loaded,
    CASE WHEN has_nhs_column THEN rows_loaded END AS rows_loaded_with_nhs_column,
    CASE WHEN has_nhs_column
        THEN coalesce(CAST(round(nhs_number_coverage * rows_loaded) AS BIGINT), 0) END AS rows_with_nhs_number,
    CASE WHEN has_upn_column THEN rows_loaded END AS rows_loaded_with_upn_column,
    CASE WHEN has_upn_column
        THEN coalesce(CAST(round(upn_coverage * rows_loaded) AS BIGINT), 0) END AS rows_with_upn
FROM (
    SELECT
        *,
        -- a month with no rows loaded has no coverage, but the dataset still carries the column
        bool_or(nhs_number_coverage IS NOT NULL) OVER (PARTITION BY partner, dataset) AS has_nhs_column,
        bool_or(upn_coverage IS NOT NULL) OVER (PARTITION BY partner, dataset) AS has_upn_column
    FROM dq_monthly
)
WHERE period_month IS NOT NULL
