-- id: referrals_per_10k
-- title: Referrals to children's social care per 10,000 children
-- description: Contacts that became a referral to children's social care, by the month of the referral, per 10,000 children aged 0-17 (by home postcode), by age band at the contact.
-- unit: per 10,000 children aged 0-17
-- polarity: neutral
-- multiplier: 10000
-- numerator: referrals in the period
-- denominator: children aged 0-17, mid-year population estimate
-- sources: childrens_services/contacts
-- owner: childrens_services
-- theme: Front door
WITH referrals AS (
    SELECT
        CAST(date_trunc('month', referral_date) AS DATE) AS referral_month,
        district_code,
        age_band
    FROM childrens_services__contacts
    WHERE referral_date IS NOT NULL
)

SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(r.referral_month) AS numerator,
    g.children AS denominator
FROM population_grid(0, 17) AS g
LEFT JOIN referrals AS r
    ON
        g.period_month = r.referral_month
        AND g.district_code IS NOT DISTINCT FROM r.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || r.age_band)
GROUP BY ALL
