-- The candidate certification of the year that holds a person's last certification (the
-- registry's, `anchors`): the first strong record after it in that year. Every other year's
-- candidate is that year's first strong record (summary.sql's first_YYYY) or none (a year
-- before the last certification), so only this query compares records with the anchor — and
-- only the records of the months that can hold an anchor's year (summary.py passes those
-- files alone; the window literals let Parquet skip row groups too).
--
-- Input: records, evidence_kinds (as summary.sql), anchors (person_id, after_time: the end of
-- the day of the last certification). Placeholders: as summary.sql, plus window_start,
-- window_end — literal timestamps: the earliest anchor, the end of the latest anchor's year.
-- Output: person_id, event_time — at most one row per person.
SELECT e.person_id, min(e.event_time) AS event_time
FROM {records} AS e
JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type AND k.code = 1
JOIN anchors AS a ON a.person_id = e.person_id
WHERE e.person_id IS NOT NULL
  AND e.event_time < {as_of_end}
  AND {lower_bound}
  AND e.event_time >= {window_start}
  AND e.event_time < {window_end}
  AND e.event_time >= a.after_time
  AND year(e.event_time) = year(a.after_time)
GROUP BY e.person_id
