-- The per-person evidence summary of a set of evidence records, as of a date: stage 1, times.
--
-- Input relations (registered by lifesign/certify/summary.py):
--   records          evidence records (columns of the lake: person_id, evidence_type,
--                    event_time, source, record_id); the whole lake or a few new batches
--   evidence_kinds   (evidence_type, kind): kind is 'strong' (strong, establishes alive),
--                    'weak', 'deceased', 'imprisoned', 'emigrated' or 'moved_away'
--   anchors          (person_id, after_time): the registry's last certification (the end of
--                    that day); strong records before it do not certify again
-- Placeholders: as_of_end — a timestamp literal, the first second after the as-of day
-- (records on or after it are not yet known); lower_bound — a literal timestamp condition.
--
-- Only event times here: building a record's ref (a string) for every record cost five times
-- the scan. refs.sql and named.sql then name the records at the winning times (ties
-- included), so the result is the same as min/max over the refs of every record.
--
-- Output: one row per person and calendar year; wanted.sql folds the years per person, and
-- `strong_first_after_time` per year is the year's silent certification. Portable: FILTER,
-- year() exist in Spark SQL 3.
WITH rec AS (
    SELECT
        e.person_id,
        k.kind,
        year(e.event_time) AS yr,
        e.event_time,
        CASE
            WHEN a.after_time IS NULL OR e.event_time >= a.after_time THEN 1 ELSE 0
        END AS after_last
    FROM {records} AS e
    JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type
    LEFT JOIN anchors AS a ON a.person_id = e.person_id
    WHERE e.person_id IS NOT NULL
      AND e.event_time < {as_of_end}
      AND {lower_bound}
)
SELECT
    person_id,
    yr,
    max(event_time) FILTER (WHERE kind = 'strong') AS strong_time,
    min(event_time) FILTER (WHERE kind = 'strong' AND after_last = 1) AS strong_first_after_time,
    max(event_time) FILTER (WHERE kind = 'weak') AS weak_time,
    min(event_time) FILTER (WHERE kind = 'deceased') AS death_first_time,
    max(event_time) FILTER (WHERE kind = 'deceased') AS death_last_time,
    max(event_time) FILTER (WHERE kind = 'imprisoned') AS imprisoned_time,
    max(event_time) FILTER (WHERE kind = 'emigrated') AS emigrated_time,
    max(event_time) FILTER (WHERE kind = 'moved_away') AS moved_away_time,
    count(*) AS records
FROM rec
GROUP BY person_id, yr
