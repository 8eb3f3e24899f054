-- view: partner_quality
-- title: Rows received and loaded, and identifier coverage, per partner and month
-- description: The data-quality scorecard summed over each partner's datasets: rows received, rows loaded, and rows loaded with a valid NHS number or UPN (NULL where none of the partner's datasets has the column). For the data-quality metrics.
-- sources: dq_monthly
SELECT
    period_month,
    partner,
    sum(rows_received) AS rows_received,
    sum(rows_loaded) AS rows_loaded,
    sum(rows_loaded) FILTER (WHERE nhs_number_coverage IS NOT NULL) AS rows_loaded_with_nhs_column,
    CAST(sum(round(nhs_number_coverage * rows_loaded)) AS BIGINT) AS rows_with_nhs_number,
    sum(rows_loaded) FILTER (WHERE upn_coverage IS NOT NULL) AS rows_loaded_with_upn_column,
    CAST(sum(round(upn_coverage * rows_loaded)) AS BIGINT) AS rows_with_upn
FROM dq_monthly
WHERE period_month IS NOT NULL
GROUP BY ALL
