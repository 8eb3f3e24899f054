-- id: child_death_initial_review_within_5_working_days
-- title: Child deaths with the initial review meeting within 5 working days (%)
-- description: Of the child deaths in the period, the share whose initial review meeting was held within 5 working days of the death (weekends and England and Wales bank holidays excluded).
-- unit: % of child deaths
-- polarity: higher is better
-- multiplier: 100
-- numerator: deaths with the initial review within 5 working days
-- denominator: child deaths in the period
-- denominator_type: count
-- complement: deaths without the initial review within 5 working days
-- sources: health/child_death_reviews
-- owner: health
-- theme: Learning from reviews
-- thresholds: amber=90, red=75
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm)
SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(r.event_month) FILTER (WHERE working_days(r.date_of_death, r.initial_review) <= 5) AS numerator,
    count(r.event_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN health__child_death_reviews AS r
    ON g.period_month = r.event_month AND g.district_code IS NOT DISTINCT FROM r.district_code
GROUP BY ALL
