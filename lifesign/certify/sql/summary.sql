-- The per-person evidence summary of a set of evidence records, as of a date.
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
-- A record's `ref` is "event time|source|evidence type|record id": ordering refs as strings
-- orders records by time, ties broken by source and record id, so min/max pick the same
-- record whatever the engine, the batch order or the number of passes (full and incremental
-- agree). Portable: CAST, ||, FILTER, year() all exist in Spark SQL 3.
--
-- Output: one row per person and calendar year; summary.py folds the years per person and
-- keeps `strong_first_after` per year (the year's silent certification).
WITH rec AS (
    SELECT
        e.person_id,
        k.kind,
        year(e.event_time) AS yr,
        CAST(e.event_time AS VARCHAR) || '|' || e.source || '|' || e.evidence_type || '|'
            || e.record_id AS ref,
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
    max(ref) FILTER (WHERE kind = 'strong') AS strong_ref,
    min(ref) FILTER (WHERE kind = 'strong' AND after_last = 1) AS strong_first_after,
    max(ref) FILTER (WHERE kind = 'weak') AS weak_ref,
    min(ref) FILTER (WHERE kind = 'deceased') AS death_first_ref,
    max(ref) FILTER (WHERE kind = 'deceased') AS death_last_ref,
    max(ref) FILTER (WHERE kind = 'imprisoned') AS imprisoned_ref,
    max(ref) FILTER (WHERE kind = 'emigrated') AS emigrated_ref,
    max(ref) FILTER (WHERE kind = 'moved_away') AS moved_away_ref,
    count(*) AS records
FROM rec
GROUP BY person_id, yr
