-- The candidate certifications of the records read: per person and calendar year, the ref of
-- the first strong record after the person's last certification (the earliest ref among the
-- strong records named at wanted_candidates.sql's moment).
--
-- Input: wanted_candidates (wanted_candidates.sql), named (as found.sql).
-- Output: person_id, yr, ref.
SELECT c.person_id, c.yr, min(n.ref) AS ref
FROM wanted_candidates AS c
JOIN named AS n
    ON n.person_id = c.person_id AND n.event_time = c.event_time AND n.code = 1
GROUP BY c.person_id, c.yr
