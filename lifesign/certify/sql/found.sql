-- The summary of the records read, one row per person: each field the ref of its record
-- (wanted.sql's winners named by named.sql: the latest ref at a 'max' field's moment, the
-- earliest at a 'min' one's), and the records counted.
--
-- Input: wanted (wanted.sql), named (named.sql: every record at a wanted moment, with its
-- kind and ref), counted (person_id, records: summary.sql's records per person).
-- Output: person_id, strong_ref ... moved_away_ref, records.
WITH picked AS (
    SELECT w.person_id, w.field, n.ref
    FROM wanted AS w
    JOIN named AS n
        ON n.person_id = w.person_id AND n.kind = w.kind AND n.event_time = w.event_time
    WHERE w.field <> 'candidate'
)
SELECT
    c.person_id,
    max(p.ref) FILTER (WHERE p.field = 'strong') AS strong_ref,
    max(p.ref) FILTER (WHERE p.field = 'weak') AS weak_ref,
    min(p.ref) FILTER (WHERE p.field = 'death_first') AS death_first_ref,
    max(p.ref) FILTER (WHERE p.field = 'death_last') AS death_last_ref,
    max(p.ref) FILTER (WHERE p.field = 'imprisoned') AS imprisoned_ref,
    max(p.ref) FILTER (WHERE p.field = 'emigrated') AS emigrated_ref,
    max(p.ref) FILTER (WHERE p.field = 'moved_away') AS moved_away_ref,
    c.records
FROM counted AS c
LEFT JOIN picked AS p ON p.person_id = c.person_id
GROUP BY c.person_id, c.records
