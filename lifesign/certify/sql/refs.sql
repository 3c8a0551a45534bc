-- Stage 2: the records at the winning moments of stage 1 (wanted.sql), over the same records
-- and bounds as stage 1 (one select per part read): only a semi-join on two integer columns
-- (person, event time), no string built here — the records found are few (about one per
-- summary field a person has) and named.sql builds their refs.
--
-- Input: records (as summary.sql); wanted_moments (person_id, event_time), distinct.
-- Placeholders as summary.sql.
-- Output: person_id, event_time, evidence_type, source, record_id.
SELECT
    e.person_id,
    e.event_time,
    e.evidence_type,
    e.source,
    e.record_id
FROM {records} AS e
WHERE e.person_id IS NOT NULL
  AND e.event_time < {as_of_end}
  AND {lower_bound}
  AND EXISTS (
      SELECT 1 FROM wanted_moments AS w
      WHERE w.person_id = e.person_id AND w.event_time = e.event_time
  )
