-- The silent certifications of the common persons (facts.sql, rare = 0: alive, no death or
-- status record): the first strong record of each calendar year after the last certification
-- (a candidate, candidates.sql), for a year after the latest silent certification in the
-- ledger and dated after the person's last status change — rule strong_alive_certifies, as
-- passes.decide takes it for one person.
--
-- Input: facts, found_candidates. Output: person_id, yr, ref, effective_date, valid_until.
WITH taken AS (
    SELECT
        c.person_id,
        c.yr,
        c.ref,
        CAST(substr(c.ref, 1, 10) AS DATE) AS effective_date,
        f.months,
        f.certified_year,
        f.status_since
    FROM found_candidates AS c
    JOIN facts AS f ON f.person_id = c.person_id
    WHERE f.rare = 0 AND f.status = 'alive'
)
SELECT
    person_id,
    yr,
    ref,
    effective_date,
    add_months(effective_date, months) AS valid_until
FROM taken
WHERE (certified_year IS NULL OR yr > certified_year)
  AND (status_since IS NULL OR effective_date > status_since)
