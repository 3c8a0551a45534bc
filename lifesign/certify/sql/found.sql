-- The summary of the records read, one row per person: each field the ref of its record
-- (the latest ref among the named records of the field's kind at a 'max' field's time, the
-- earliest at a 'min' one's), and the records counted.
--
-- Input: wanted (wanted.sql: each field's time, the records), named (refs.sql: every record
-- at a wanted moment, with its kind's code and ref) — joined on the person alone: a person has
-- a few named records, each compared with the fields' times.
-- Output: person_id, strong_ref ... moved_away_ref, records.
SELECT
    w.person_id,
    max(n.ref) FILTER (WHERE n.code = 1 AND n.event_time = w.strong_time) AS strong_ref,
    max(n.ref) FILTER (WHERE n.code = 2 AND n.event_time = w.weak_time) AS weak_ref,
    min(n.ref) FILTER (WHERE n.code = 3 AND n.event_time = w.death_first_time)
        AS death_first_ref,
    max(n.ref) FILTER (WHERE n.code = 3 AND n.event_time = w.death_last_time)
        AS death_last_ref,
    max(n.ref) FILTER (WHERE n.code = 4 AND n.event_time = w.imprisoned_time)
        AS imprisoned_ref,
    max(n.ref) FILTER (WHERE n.code = 5 AND n.event_time = w.emigrated_time) AS emigrated_ref,
    max(n.ref) FILTER (WHERE n.code = 6 AND n.event_time = w.moved_away_time)
        AS moved_away_ref,
    w.records
FROM wanted AS w
LEFT JOIN named AS n ON n.person_id = w.person_id
GROUP BY w.person_id, w.records
