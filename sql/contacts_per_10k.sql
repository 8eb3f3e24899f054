-- id: contacts_per_10k
-- title: Contacts to children's services per 10,000 children
-- description: Contacts received by children's services in the month, per 10,000 children aged 0-17 living in the area (by the child's home postcode).
-- unit: per 10,000 children aged 0-17 (in the month)
-- polarity: neutral
-- multiplier: 10000
-- numerator: contacts received in the month
-- denominator: children aged 0-17, mid-year population estimate
-- sources: childrens_services/contacts
-- owner: childrens_services
-- theme: Front door
WITH contacts AS (
    SELECT event_month, district_code, count(*) AS n
    FROM childrens_services__contacts
    WHERE district_code IS NOT NULL
    GROUP BY ALL
)

SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    coalesce(c.n, 0) AS numerator,
    p.children AS denominator
FROM month_district_grid AS g
INNER JOIN district_children(0, 17) AS p ON g.district_code = p.district_code
LEFT JOIN contacts AS c ON g.period_month = c.event_month AND g.district_code = c.district_code
