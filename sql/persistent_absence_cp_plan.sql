-- id: persistent_absence_cp_plan
-- title: Persistent absence, pupils on a child protection plan (%)
-- description: Of pupils on a child protection plan at any time in a term (autumn from September, spring from January, summer from April) (linked by the child key) with sessions in the term, the share who missed 10% or more of their possible sessions (authorised and unauthorised absence), counted in the term's last month (autumn: December, spring: March, summer: July) and placed by the home postcode of their latest school census. Compare with persistent_absence_all_pupils.
-- unit: % of pupil-terms
-- polarity: higher is worse
-- multiplier: 100
-- numerator: pupil-terms on a plan with 10% or more of possible sessions missed
-- denominator: pupil-terms on a plan with possible sessions
-- denominator_type: count
-- complement: pupil-terms on a plan with less than 10% of possible sessions missed
-- sources: pupil_terms, childrens_services/cp_plans, childrens_services/cp_plans
-- owner: education
-- theme: Education
WITH on_plan AS (
    SELECT t.*
    FROM pupil_terms AS t
    WHERE EXISTS (
        SELECT 1
        FROM child_link AS pupil
        INNER JOIN child_link AS child ON pupil.child_key = child.child_key
        INNER JOIN childrens_services__cp_plans AS cp ON child.person_key = cp.person_key
        WHERE
            pupil.person_key = t.person_key
            AND cp.plan_start <= last_day(t.term_month)
            AND (cp.plan_end IS NULL OR cp.plan_end >= t.term_start)
    )
)

SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(p.term_month) FILTER (WHERE p.persistent) AS numerator,
    count(p.term_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN on_plan AS p ON g.period_month = p.term_month AND g.district_code IS NOT DISTINCT FROM p.district_code
GROUP BY ALL
