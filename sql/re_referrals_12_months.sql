-- id: re_referrals_12_months
-- title: Re-referrals within 12 months (%)
-- description: Of the referrals in the period, the share for a child referred before within the previous 12 months (children linked across records by the child key).
-- unit: % of referrals
-- polarity: higher is worse
-- multiplier: 100
-- numerator: referrals in the period of a child with an earlier referral in the 12 months before
-- denominator: referrals in the period
-- denominator_type: count
-- complement: referrals in the period of a child with no referral in the 12 months before
-- history_months: 12
-- sources: childrens_services/contacts
-- owner: childrens_services
-- theme: Front door
-- thresholds: amber=22, red=25
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm); England's value (DfE Children in need: a focus on re-referrals) is in reference/comparators.csv
WITH referrals AS (
    SELECT
        c.referral_date,
        c.district_code,
        c.age_band,
        CAST(date_trunc('month', c.referral_date) AS DATE) AS referral_month,
        l.child_key
    FROM childrens_services__contacts AS c
    LEFT JOIN child_link AS l ON c.person_key = l.person_key
    WHERE c.referral_date IS NOT NULL
),

flagged AS (
    SELECT
        *,
        coalesce(child_key IS NOT NULL AND max(referral_date) OVER (
            PARTITION BY child_key ORDER BY referral_date
            RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL 1 DAY PRECEDING
        ) >= referral_date - INTERVAL 12 MONTH, false) AS repeat
    FROM referrals
)

SELECT
    g.period_month,
    g.district_code,
    g.breakdown,
    count(f.referral_month) FILTER (WHERE f.repeat) AS numerator,
    count(f.referral_month) AS denominator
FROM event_grid() AS g
LEFT JOIN flagged AS f
    ON
        g.period_month = f.referral_month
        AND g.district_code IS NOT DISTINCT FROM f.district_code
        AND (g.breakdown = 'all' OR g.breakdown = 'age_band:' || f.age_band)
GROUP BY ALL
