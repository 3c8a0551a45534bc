-- Stage 2: the records at the winning moments of stage 1 (moments.sql), over the same records
-- and bounds as stage 1 (one select per part read), named: a semi-join on two integer columns
-- (person, event time) keeps the few records at those moments (about one per summary field a
-- person has), and only they get a ref built — no string is built for the other records.
--
-- A record's ref is "event time|source|evidence type|record id": ordering refs as strings
-- orders records by time, ties broken by source, type and record id, so min/max pick the same
-- record whatever the engine, the batch order or the number of passes (full and incremental
-- agree). Every record at a winning moment is here, so the min/max ref among them is the
-- min/max ref among all the records of that kind. (Records of another kind at the same moment
-- are named too; found.sql and candidates.sql compare the kind and ignore them.)
--
-- Input: records, evidence_kinds (as summary.sql); wanted_moments (person_id, event_time).
-- Placeholders as summary.sql.
-- Output: person_id, code, event_time, ref — one row per record at a wanted moment.
SELECT
    e.person_id,
    k.code,
    e.event_time,
    CAST(e.event_time AS VARCHAR) || '|' || e.source || '|' || e.evidence_type || '|'
    || e.record_id AS ref
FROM {records} AS e
JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type
WHERE e.person_id IS NOT NULL
  AND e.event_time < {as_of_end}
  AND {lower_bound}
  AND EXISTS (
      SELECT 1 FROM wanted_moments AS w
      WHERE w.person_id = e.person_id AND w.event_time = e.event_time
  )
