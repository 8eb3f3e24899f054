-- id: suspensions_per_100_pupils
-- title: Suspensions per 100 pupils, all pupils
-- description: Suspensions (not permanent exclusions) started in the period per 100 pupil-months: pupils counted each month from their latest school census (by its home postcode). Over a rolling 12 months this is the number of suspensions per 100 pupils a year divided by 12. Compare with suspensions_known_to_cs_per_100_pupils.
-- unit: per 100 pupil-months
-- polarity: higher is worse
-- multiplier: 100
-- numerator: suspensions started in the period
-- denominator: pupil-months on the latest census
-- denominator_type: count
-- sources: education/suspensions, education/school_census
-- owner: education
-- theme: Education
WITH censuses AS (
    SELECT DISTINCT census_date FROM education__school_census
),

pupils AS (
    -- each month's latest census, and who was on it
    SELECT
        g.period_month,
        c.district_code,
        count(*) AS pupils
    FROM (SELECT DISTINCT period_month FROM month_district_grid) AS g
    INNER JOIN education__school_census AS c
        ON c.census_date = (SELECT max(x.census_date) FROM censuses AS x WHERE x.census_date <= last_day(g.period_month))
    GROUP BY ALL
),

suspended AS (
    SELECT
        event_month,
        district_code
    FROM education__suspensions
    WHERE category = 'SUSP'
)

SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    (
        SELECT count(*) FROM suspended AS s
        WHERE s.event_month = g.period_month AND s.district_code IS NOT DISTINCT FROM g.district_code
    ) AS numerator,
    coalesce(p.pupils, 0) AS denominator
FROM month_district_grid AS g
LEFT JOIN pupils AS p ON g.period_month = p.period_month AND g.district_code IS NOT DISTINCT FROM p.district_code
