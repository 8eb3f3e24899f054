-- id: child_death_panel_review_within_12_months
-- title: Child deaths reviewed by the panel within 12 months (%)
-- description: Of the child deaths 12 months before the period (so that every one has had its full 12 months), the share whose child death overview panel review was held within 12 months of the death; a death not yet reviewed counts as not within. A quarter or year counts the deaths in the quarter or year 12 months earlier. The 12 months are the partnership's measure of delay, not a national timescale.
-- unit: % of child deaths
-- polarity: higher is better
-- multiplier: 100
-- numerator: deaths reviewed by the panel within 12 months of the death
-- denominator: child deaths 12 months before the period
-- denominator_type: count
-- complement: deaths not reviewed by the panel within 12 months
-- sources: health/child_death_reviews
-- owner: health
-- theme: Learning from reviews
SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(r.event_month) FILTER (WHERE r.panel_review <= r.date_of_death + INTERVAL 12 MONTH) AS numerator,
    count(r.event_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN health__child_death_reviews AS r
    ON
        g.period_month = CAST(r.event_month + INTERVAL 12 MONTH AS DATE)
        AND g.district_code IS NOT DISTINCT FROM r.district_code
GROUP BY ALL
