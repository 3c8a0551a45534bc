-- What the rules look at, per person: the current state (the stored row, or the registry's
-- seed for a person without one), the certification period, the merged summary, and whether
-- the person is *rare* (a death or status record, or not alive: decided one by one by
-- passes.decide) or common (decided set-wise by certified.sql and state.sql).
--
-- Input: stored_state (person_state rows of the persons concerned), unseeded (person_id: the
-- registry persons without a state row), people (person_id,
-- last_certified_on, channel: the registry, for seeds and the persons concerned), months
-- (person_id, seed_months: shortest period of the person's programs or the fallback; months:
-- the period the rules use), merged (merge.sql).
-- Output: one row per person touched, or without a state row (who gets a seeded one).
WITH seeded AS (
    SELECT
        p.person_id,
        'alive' AS status,
        CAST(NULL AS DATE) AS status_since,
        p.last_certified_on,
        p.channel,
        add_months(p.last_certified_on, m.seed_months) AS valid_until,
        CAST(NULL AS INTEGER) AS certified_year,
        CAST(NULL AS DATE) AS last_strong_event,
        CAST(NULL AS DATE) AS last_weak_event,
        CAST(NULL AS DATE) AS death_date,
        CAST(NULL AS DATE) AS updated_on,
        0 AS has_row
    FROM people AS p
    JOIN months AS m ON m.person_id = p.person_id
    WHERE EXISTS (SELECT 1 FROM unseeded AS u WHERE u.person_id = p.person_id)
),
current_state AS (
    SELECT
        person_id, status, status_since, last_certified_on, channel, valid_until,
        certified_year, last_strong_event, last_weak_event, death_date, updated_on,
        1 AS has_row
    FROM stored_state
    UNION ALL
    SELECT * FROM seeded
)
SELECT
    c.*,
    m.months,
    t.strong_ref, t.weak_ref, t.death_first_ref, t.death_last_ref,
    t.imprisoned_ref, t.emigrated_ref, t.moved_away_ref,
    CASE WHEN t.person_id IS NULL THEN 0 ELSE 1 END AS touched,
    CASE
        WHEN t.person_id IS NOT NULL AND (
            c.status <> 'alive'
            OR t.death_first_ref IS NOT NULL
            OR t.imprisoned_ref IS NOT NULL
            OR t.emigrated_ref IS NOT NULL
            OR t.moved_away_ref IS NOT NULL
        )
        THEN 1 ELSE 0
    END AS rare
FROM current_state AS c
JOIN months AS m ON m.person_id = c.person_id
LEFT JOIN (SELECT * FROM merged WHERE touched = 1) AS t ON t.person_id = c.person_id
WHERE t.person_id IS NOT NULL OR c.has_row = 0
