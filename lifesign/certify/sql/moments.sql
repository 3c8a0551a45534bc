-- The (person, event time) of every winning record: what refs.sql's semi-join keeps. Not made
-- distinct: a moment listed twice (the latest strong record also the first of its year) still
-- keeps each record once, and DISTINCT cost 0.7 s CPU at Bozhou scale.
--
-- Input: wanted (wanted.sql), wanted_candidates (wanted_candidates.sql).
-- Output: person_id, event_time.
SELECT person_id, event_time
FROM (
    SELECT person_id, strong_time AS event_time FROM wanted WHERE strong_time IS NOT NULL
    UNION ALL
    SELECT person_id, weak_time FROM wanted WHERE weak_time IS NOT NULL
    UNION ALL
    SELECT person_id, death_first_time FROM wanted WHERE death_first_time IS NOT NULL
    UNION ALL
    SELECT person_id, death_last_time FROM wanted WHERE death_last_time IS NOT NULL
    UNION ALL
    SELECT person_id, imprisoned_time FROM wanted WHERE imprisoned_time IS NOT NULL
    UNION ALL
    SELECT person_id, emigrated_time FROM wanted WHERE emigrated_time IS NOT NULL
    UNION ALL
    SELECT person_id, moved_away_time FROM wanted WHERE moved_away_time IS NOT NULL
    UNION ALL
    SELECT person_id, event_time FROM wanted_candidates
) AS moments
