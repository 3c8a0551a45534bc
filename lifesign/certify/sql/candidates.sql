-- The candidate certifications of the records read: per person and calendar year, the ref of
-- the first strong record after the person's last certification (wanted.sql's 'candidate'
-- rows named by named.sql: the earliest ref at that moment).
--
-- Input: wanted, named (as found.sql). Output: person_id, yr, ref.
SELECT w.person_id, w.yr, min(n.ref) AS ref
FROM wanted AS w
JOIN named AS n
    ON n.person_id = w.person_id AND n.kind = w.kind AND n.event_time = w.event_time
WHERE w.field = 'candidate'
GROUP BY w.person_id, w.yr
