-- id: contacts_per_10k
-- title: Contacts to children's services per 10,000 children
-- description: Contacts received by children's services, per 10,000 children aged 0-17 living in the area (by the child's home postcode), by age band at the contact.
-- unit: per 10,000 children aged 0-17
-- polarity: neutral
-- multiplier: 10000
-- numerator: contacts received in the period
-- denominator: children aged 0-17, mid-year population estimate
-- sources: childrens_services/contacts
-- owner: childrens_services
-- theme: Front door
SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(c.event_month) AS numerator,
    g.children AS denominator
FROM population_grid(0, 17) AS g
LEFT JOIN childrens_services__contacts AS c
    ON
        g.period_month = c.event_month
        AND g.district_code IS NOT DISTINCT FROM c.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || c.age_band)
GROUP BY ALL
