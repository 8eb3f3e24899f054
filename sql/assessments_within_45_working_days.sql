-- id: assessments_within_45_working_days
-- title: Assessments completed within 45 working days (%)
-- description: Of the children and family assessments authorised (completed) in the period, the share authorised within 45 working days of the assessment's start (weekends and England and Wales bank holidays excluded), by age band at the start and by sex. The national standard (Working Together to Safeguard Children) is that an assessment concludes within 45 working days of the referral, and DfE's Children in need statistics (table C2) count completed assessments by their duration; the council's extract carries the assessment's start, not its referral, so the clock starts there.
-- unit: % of assessments completed
-- polarity: higher is better
-- multiplier: 100
-- numerator: assessments authorised in the period within 45 working days of their start
-- denominator: assessments authorised in the period
-- denominator_type: count
-- complement: assessments authorised in the period after 45 working days
-- sources: childrens_services/assessments
-- owner: childrens_services
-- theme: Front door
WITH completed AS (
    SELECT
        CAST(date_trunc('month', assessment_authorised) AS DATE) AS authorised_month,
        district_code,
        age_band,
        sex,
        working_days(assessment_start, assessment_authorised) <= 45 AS in_time
    FROM childrens_services__assessments
    WHERE assessment_authorised IS NOT NULL
),

parts AS (
    SELECT
        c.*,
        b.breakdown
    FROM completed AS c, unnest(['all', 'age_band:' || c.age_band, 'sex:' || c.sex]) AS b (breakdown)
    WHERE b.breakdown IS NOT NULL
)

SELECT
    g.period_month,
    g.district_code,
    k.breakdown,
    count(p.authorised_month) FILTER (WHERE p.in_time) AS numerator,
    count(p.authorised_month) AS denominator
FROM month_district_grid AS g
CROSS JOIN (SELECT breakdown FROM parts UNION SELECT 'all') AS k
LEFT JOIN parts AS p
    ON
        g.period_month = p.authorised_month
        AND g.district_code IS NOT DISTINCT FROM p.district_code
        AND k.breakdown = p.breakdown
GROUP BY ALL
