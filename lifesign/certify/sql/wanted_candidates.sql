-- The candidate certifications' times, folded over the parts read: per person and calendar
-- year, the first strong record after the person's last certification — in a year after it (or
-- with none), the year's first strong record (summary.sql's first_YYYY); in its own year,
-- anchored.sql's record; in a year before it, none.
--
-- Input (every part's rows, unfolded): firsts (person_id, yr, event_time), anchored
-- (person_id, event_time), anchors (person_id, after_time).
-- Output: person_id, yr, event_time.
SELECT f.person_id, f.yr, min(f.event_time) AS event_time
FROM firsts AS f
LEFT JOIN anchors AS a ON a.person_id = f.person_id
WHERE a.after_time IS NULL OR f.yr > year(a.after_time)
GROUP BY f.person_id, f.yr
UNION ALL
SELECT person_id, year(event_time) AS yr, min(event_time) AS event_time
FROM anchored
GROUP BY person_id, year(event_time)
