-- The per-person evidence summary of a set of evidence records, as of a date: stage 1, times.
--
-- Input relations (registered by lifesign/certify/summary.py):
--   records          evidence records (columns of the lake: person_id, evidence_type,
--                    event_time, source, record_id); the whole lake or a few new batches
--   evidence_kinds   (evidence_type, kind, code): kind is 'strong' (strong, establishes alive,
--                    code 1), 'weak' (2), 'deceased' (3), 'imprisoned' (4), 'emigrated' (5) or
--                    'moved_away' (6)
-- Placeholders: as_of_end — a timestamp literal, the first second after the as-of day
-- (records on or after it are not yet known); lower_bound — a literal timestamp condition;
-- year_firsts — one aggregate per calendar year the records can hold (the years of their
-- files' month partitions, within the bounds), built by summary.py from year_first.sql.
--
-- One group per person (not per person and year), only the kinds every person has, and no
-- per-record join but the 48-row kinds: each aggregate state is updated once per record, so
-- the fewer and narrower the states, the closer to a bare group-by. The rare kinds are read
-- apart (rare.sql), the year of the registry's last certification apart (anchored.sql).
-- Only event times here: building a record's ref (a string) for every record cost five times
-- the scan; refs.sql then names the records at the winning times (ties
-- included), so the result is the same as min/max over the refs of every record.
--
-- Output: one row per person: the latest strong and weak times, per year the first strong
-- time (`first_YYYY`), the records counted. Portable: FILTER exists in Spark SQL 3.
SELECT
    e.person_id,
    max(e.event_time) FILTER (WHERE k.code = 1) AS strong_time,
    max(e.event_time) FILTER (WHERE k.code = 2) AS weak_time,
    {year_firsts}
    count(*) AS records
FROM {records} AS e
JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type
WHERE e.person_id IS NOT NULL
  AND e.event_time < {as_of_end}
  AND {lower_bound}
GROUP BY e.person_id
