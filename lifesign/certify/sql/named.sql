-- The refs of the records at the winning moments (refs.sql over every part read), with their
-- kind: one row per record, no folding (found.sql and candidates.sql take the min or max ref
-- of each wanted moment).
--
-- A record's ref is "event time|source|evidence type|record id": ordering refs as strings
-- orders records by time, ties broken by source, type and record id, so min/max pick the same
-- record whatever the engine, the batch order or the number of passes (full and incremental
-- agree). Every record at a winning moment is here, so the min/max ref among them is the
-- min/max ref among all the records of that kind. (Records of another kind at the same moment
-- are named too; found.sql and candidates.sql join on the kind and ignore them.)
--
-- Input: at_moments (refs.sql's rows, every part), evidence_kinds (as summary.sql).
-- Output: person_id, kind, event_time, ref.
SELECT
    e.person_id,
    k.kind,
    e.event_time,
    CAST(e.event_time AS VARCHAR) || '|' || e.source || '|' || e.evidence_type || '|'
    || e.record_id AS ref
FROM at_moments AS e
JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type
