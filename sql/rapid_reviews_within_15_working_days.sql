-- id: rapid_reviews_within_15_working_days
-- title: Rapid reviews completed within 15 working days (%)
-- description: Of the serious incidents notified in the period, the share whose rapid review was completed within 15 working days of the notification (weekends and England and Wales bank holidays excluded). Reviews carry no home postcode, so they count for the county only.
-- unit: % of notifications
-- polarity: higher is better
-- multiplier: 100
-- numerator: notifications with the rapid review within 15 working days
-- denominator: serious incident notifications in the period
-- denominator_type: count
-- complement: notifications without the rapid review within 15 working days
-- sources: business_unit/rapid_reviews
-- owner: business_unit
-- theme: Learning from reviews
-- thresholds: amber=90, red=75
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm); the 15 working days themselves are the Working Together to Safeguard Children timescale for a rapid review
SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(r.event_month) FILTER (
        WHERE working_days(r.notification_date, r.rapid_review_date) <= 15
    ) AS numerator,
    count(r.event_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN business_unit__rapid_reviews AS r ON g.period_month = r.event_month AND g.district_code IS NULL
GROUP BY ALL
