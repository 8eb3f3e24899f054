-- id: suspensions_known_to_cs_per_100_pupils
-- title: Suspensions per 100 pupils, pupils known to children's services
-- description: Suspensions (not permanent exclusions) started in the period of pupils known to children's services (a contact in the 12 months to the end of the month; linked by the child key), per 100 pupil-months of pupils known to children's services on the latest school census. Compare with suspensions_per_100_pupils.
-- unit: per 100 pupil-months
-- polarity: higher is worse
-- multiplier: 100
-- numerator: suspensions started in the period of pupils known to children's services
-- denominator: pupil-months of pupils known to children's services on the latest census
-- denominator_type: count
-- history_months: 11
-- sources: education/suspensions, education/school_census, childrens_services/contacts
-- owner: education
-- theme: Education
WITH latest AS (
    SELECT
        m.period_month,
        (
            SELECT max(c.census_date) FROM education__school_census AS c
            WHERE c.census_date <= last_day(m.period_month)
        ) AS census_date
    FROM (SELECT DISTINCT period_month FROM month_district_grid) AS m
),

known AS (
    -- a contact makes a child known for that month and the eleven after
    SELECT DISTINCT
        l.child_key,
        CAST(c.event_month + to_months(CAST(t.k AS INTEGER)) AS DATE) AS period_month
    FROM childrens_services__contacts AS c
    INNER JOIN child_link AS l ON c.person_key = l.person_key
    CROSS JOIN range(12) AS t (k)
),

census_children AS (
    -- each census row by its child, before meeting the months a child is known: joining the
    -- months to every person key of the child first multiplies them (it filled the disk at
    -- national scale)
    SELECT DISTINCT
        l.child_key,
        c.census_date,
        c.district_code
    FROM education__school_census AS c
    INNER JOIN child_link AS l ON c.person_key = l.person_key
),

pupils AS (
    SELECT
        k.period_month,
        c.district_code,
        count(DISTINCT k.child_key) AS pupils
    FROM known AS k
    INNER JOIN latest AS m ON k.period_month = m.period_month
    INNER JOIN census_children AS c ON k.child_key = c.child_key AND m.census_date = c.census_date
    GROUP BY ALL
),

suspended AS (
    SELECT
        s.event_month,
        s.district_code
    FROM education__suspensions AS s
    INNER JOIN child_link AS l ON s.person_key = l.person_key
    WHERE
        s.category = 'SUSP'
        AND EXISTS (SELECT 1 FROM known AS k WHERE k.child_key = l.child_key AND k.period_month = s.event_month)
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
