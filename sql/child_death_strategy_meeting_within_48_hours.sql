-- id: child_death_strategy_meeting_within_48_hours
-- title: Child deaths with the strategy meeting within 48 hours (%)
-- description: Of the child deaths in the period reviewed by the child death overview panel, the share whose strategy meeting was held within 48 hours (no later than two days after the date of death).
-- unit: % of child deaths
-- polarity: higher is better
-- multiplier: 100
-- numerator: deaths with the strategy meeting within 48 hours
-- denominator: child deaths in the period
-- denominator_type: count
-- complement: deaths without the strategy meeting within 48 hours
-- sources: health/child_death_reviews
-- owner: health
-- theme: Learning from reviews
-- thresholds: amber=90, red=75
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm)
SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(r.event_month) FILTER (WHERE r.strategy_meeting <= r.date_of_death + INTERVAL 2 DAY) AS numerator,
    count(r.event_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN health__child_death_reviews AS r
    ON g.period_month = r.event_month AND g.district_code IS NOT DISTINCT FROM r.district_code
GROUP BY ALL
