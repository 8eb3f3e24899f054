-- id: persistent_absence_all_pupils
-- title: Persistent absence, all pupils (%)
-- description: Of pupils with sessions in a term, the share who missed 10% or more of their possible sessions (authorised and unauthorised absence), counted in the term's last month (autumn: December, spring: March, summer: July) and placed by the home postcode of their latest school census. Compare with persistent_absence_cp_plan.
-- unit: % of pupil-terms
-- polarity: higher is worse
-- multiplier: 100
-- numerator: pupil-terms with 10% or more of possible sessions missed
-- denominator: pupil-terms with possible sessions
-- denominator_type: count
-- complement: pupil-terms with less than 10% of possible sessions missed
-- sources: pupil_terms
-- owner: education
-- theme: Education
SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(p.term_month) FILTER (WHERE p.persistent) AS numerator,
    count(p.term_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN pupil_terms AS p ON g.period_month = p.term_month AND g.district_code IS NOT DISTINCT FROM p.district_code
GROUP BY ALL
