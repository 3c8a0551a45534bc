-- The winning times of stage 1, folded over the parts read: one row per person with a record,
-- each summary field's time (the records refs.sql must find and name) and the records
-- counted.
--
-- Input (every part's rows, unfolded): person_times (summary.sql's person_id, strong_time,
-- weak_time, records), rare_times (rare.sql).
-- Output: person_id, strong_time, weak_time, death_first_time, death_last_time,
-- imprisoned_time, emigrated_time, moved_away_time, records.
WITH folded AS (
    SELECT
        person_id,
        max(strong_time) AS strong_time,
        max(weak_time) AS weak_time,
        sum(records) AS records
    FROM person_times
    GROUP BY person_id
),
rare AS (
    SELECT
        person_id,
        min(death_first_time) AS death_first_time,
        max(death_last_time) AS death_last_time,
        max(imprisoned_time) AS imprisoned_time,
        max(emigrated_time) AS emigrated_time,
        max(moved_away_time) AS moved_away_time
    FROM rare_times
    GROUP BY person_id
)
SELECT
    f.person_id,
    f.strong_time,
    f.weak_time,
    r.death_first_time,
    r.death_last_time,
    r.imprisoned_time,
    r.emigrated_time,
    r.moved_away_time,
    f.records
FROM folded AS f
LEFT JOIN rare AS r ON r.person_id = f.person_id
