-- view: pupil_terms
-- title: Each pupil's attendance per term, placed by home district
-- description: One row per pupil and term with possible sessions: whether the pupil missed 10% or more of them (persistent absence), the term's first month (autumn: September, spring: January, summer: April) and its last (the attendance contract's `event_term`, the month its records count in: December, March, July), and the district of the pupil's latest school census up to the term's end. For education metrics.
-- sources: education/attendance, education/school_census
WITH terms AS (
    SELECT
        person_key,
        term,
        event_month AS term_month,
        CAST(left(academic_year, 4) AS INTEGER) AS first_year,
        authorised_absence + unauthorised_absence >= 0.1 * sessions_possible AS persistent
    FROM education__attendance
    WHERE sessions_possible > 0
),

dated AS (
    SELECT
        person_key,
        persistent,
        term_month,
        CASE term
            WHEN 'Autumn' THEN make_date(first_year, 9, 1)
            WHEN 'Spring' THEN make_date(first_year + 1, 1, 1)
            ELSE make_date(first_year + 1, 4, 1)
        END AS term_start
    FROM terms
)

SELECT
    d.*,
    (
        SELECT arg_max(c.district_code, c.census_date)
        FROM education__school_census AS c
        WHERE c.person_key = d.person_key AND c.census_date <= last_day(d.term_month)
    ) AS district_code
FROM dated AS d
