-- id: contact_referral_conversion
-- title: Contacts that became referrals (%)
-- description: Of the contacts received in the period, the share that became a referral to children's social care, by age band at the contact.
-- unit: % of contacts
-- polarity: neutral
-- multiplier: 100
-- numerator: contacts in the period that became a referral
-- denominator: contacts received in the period
-- denominator_type: count
-- complement: contacts in the period that did not become a referral
-- sources: childrens_services/contacts
-- owner: childrens_services
-- theme: Front door
SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(c.event_month) FILTER (WHERE c.referral_date IS NOT NULL) AS numerator,
    count(c.event_month) AS denominator
FROM event_grid() AS g
LEFT JOIN childrens_services__contacts AS c
    ON
        g.period_month = c.event_month
        AND g.district_code IS NOT DISTINCT FROM c.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || c.age_band)
GROUP BY ALL
