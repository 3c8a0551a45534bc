-- Stage 2: the refs of the records at the winning times (wanted.sql), over the same records
-- and bounds as stage 1 (one select per part read).
--
-- A record's ref is "event time|source|evidence type|record id": ordering refs as strings
-- orders records by time, ties broken by source, type and record id, so min/max pick the same
-- record whatever the engine, the batch order or the number of passes (full and incremental
-- agree). All records at the winning time are named here, so the min/max ref among them is
-- the min/max ref among all the records of that kind.
--
-- Input: records, evidence_kinds (as summary.sql); wanted_times (person_id, kind,
-- event_time), distinct. Placeholders as summary.sql.
SELECT
    e.person_id,
    k.kind,
    e.event_time,
    min(
        CAST(e.event_time AS VARCHAR) || '|' || e.source || '|' || e.evidence_type || '|'
        || e.record_id
    ) AS first_ref,
    max(
        CAST(e.event_time AS VARCHAR) || '|' || e.source || '|' || e.evidence_type || '|'
        || e.record_id
    ) AS last_ref
FROM {records} AS e
JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type
JOIN wanted_times AS w
    ON w.person_id = e.person_id AND w.event_time = e.event_time AND w.kind = k.kind
WHERE e.person_id IS NOT NULL
  AND e.event_time < {as_of_end}
  AND {lower_bound}
GROUP BY e.person_id, k.kind, e.event_time
