-- The (person, kind, event time) of every winning record of stage 1 (summary.sql), per person
-- folded over the years: the records refs.sql must find (and named.sql name).
--
-- Input: by_year (the output of summary.sql, the union of every part read).
-- Output: person_id, field, kind, event_time, pick ('max': the latest record at that time,
-- 'min': the earliest) — one row per summary field a person has, plus one per candidate year
-- (field 'candidate', yr set).
WITH folded AS (
    SELECT
        person_id,
        max(strong_time) AS strong_time,
        max(weak_time) AS weak_time,
        min(death_first_time) AS death_first_time,
        max(death_last_time) AS death_last_time,
        max(imprisoned_time) AS imprisoned_time,
        max(emigrated_time) AS emigrated_time,
        max(moved_away_time) AS moved_away_time
    FROM by_year
    GROUP BY person_id
),
candidates AS (
    SELECT person_id, yr, min(strong_first_after_time) AS event_time
    FROM by_year
    WHERE strong_first_after_time IS NOT NULL
    GROUP BY person_id, yr
)
SELECT person_id, 'strong' AS field, 'strong' AS kind, strong_time AS event_time,
       'max' AS pick, CAST(NULL AS INTEGER) AS yr
FROM folded WHERE strong_time IS NOT NULL
UNION ALL
SELECT person_id, 'weak', 'weak', weak_time, 'max', NULL FROM folded WHERE weak_time IS NOT NULL
UNION ALL
SELECT person_id, 'death_first', 'deceased', death_first_time, 'min', NULL
FROM folded WHERE death_first_time IS NOT NULL
UNION ALL
SELECT person_id, 'death_last', 'deceased', death_last_time, 'max', NULL
FROM folded WHERE death_last_time IS NOT NULL
UNION ALL
SELECT person_id, 'imprisoned', 'imprisoned', imprisoned_time, 'max', NULL
FROM folded WHERE imprisoned_time IS NOT NULL
UNION ALL
SELECT person_id, 'emigrated', 'emigrated', emigrated_time, 'max', NULL
FROM folded WHERE emigrated_time IS NOT NULL
UNION ALL
SELECT person_id, 'moved_away', 'moved_away', moved_away_time, 'max', NULL
FROM folded WHERE moved_away_time IS NOT NULL
UNION ALL
SELECT person_id, 'candidate', 'strong', event_time, 'min', yr FROM candidates
