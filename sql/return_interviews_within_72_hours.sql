-- id: return_interviews_within_72_hours
-- title: Return interviews within 72 hours of a missing child being found (%)
-- description: Of the missing episodes reported in the period in which the child was found, the share with a return home interview held within 72 hours of the child being found (the interview's date no later than the date 72 hours after).
-- unit: % of episodes with the child found
-- polarity: higher is better
-- multiplier: 100
-- numerator: episodes with a return interview within 72 hours of the child being found
-- denominator: episodes reported in the period in which the child was found
-- denominator_type: count
-- complement: episodes with no return interview within 72 hours of the child being found
-- sources: police/missing_episodes
-- owner: police
-- theme: Missing and exploitation
-- thresholds: amber=80, red=60
-- threshold_source: Local: the partnership's own tolerance, not a national target (its basis was not recorded when the catalogue was built: for SIPP to confirm); the 72 hours are the statutory guidance's timescale for a return home interview (DfE, children who run away or go missing from home or care)
SELECT
    g.period_month,
    g.district_code,
    'all' AS breakdown,
    count(e.event_month) FILTER (
        WHERE e.return_interview <= CAST(e.found_at + INTERVAL 72 HOUR AS DATE)
    ) AS numerator,
    count(e.event_month) AS denominator
FROM month_district_grid AS g
LEFT JOIN police__missing_episodes AS e
    ON
        g.period_month = e.event_month
        AND g.district_code IS NOT DISTINCT FROM e.district_code
        AND e.found_at IS NOT NULL
GROUP BY ALL
