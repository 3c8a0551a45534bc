-- Stage 1 of the rare kinds (deceased, imprisoned, emigrated, moved_away: under 1 % of the
-- records, from a few sources): read apart from summary.sql, so that summary.sql keeps five
-- fewer aggregate states per person. The join on the rare kinds alone is pushed down to the
-- Parquet scan as a filter on the evidence type: row groups of other types are skipped.
--
-- Input, placeholders: as summary.sql (no year_firsts).
-- Output: one row per person with a rare record: the earliest and latest death times, the
-- latest imprisonment, emigration, moving-away times.
SELECT
    e.person_id,
    min(e.event_time) FILTER (WHERE k.code = 3) AS death_first_time,
    max(e.event_time) FILTER (WHERE k.code = 3) AS death_last_time,
    max(e.event_time) FILTER (WHERE k.code = 4) AS imprisoned_time,
    max(e.event_time) FILTER (WHERE k.code = 5) AS emigrated_time,
    max(e.event_time) FILTER (WHERE k.code = 6) AS moved_away_time
FROM {records} AS e
JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type AND k.code >= 3
WHERE e.person_id IS NOT NULL
  AND e.event_time < {as_of_end}
  AND {lower_bound}
GROUP BY e.person_id
