-- The new person_state of the common persons (facts.sql, rare = 0), the same as
-- ledger.advance_state over their certifications (certified.sql) then passes.deferred_state:
--
-- - last_certified_on: the latest of the old one, the certifications and the latest strong
--   record (递延认证: every strong record after the last certification certifies again), when
--   that record is after the last status change; the channel becomes 'auto' when one of them
--   is on or after the old date (a certification) or after it (the deferred record);
-- - valid_until: the latest of the old one and each of those dates plus the period;
-- - certified_year: the latest year certified silently;
-- - last_strong_event / last_weak_event: the dates of the latest strong / weak records;
-- - updated_on: the as-of day when anything changed.
--
-- Input: facts, certified. Placeholder as_of — a date literal.
-- Output: the person_state columns, has_row, changed, moved_fields: which columns moved, one
-- bit each (last_certified_on 1, channel 2, valid_until 4, certified_year 8,
-- last_strong_event 16, last_weak_event 32; updated_on moves with any): a stored row is
-- updated in those only — an UPDATE that leaves valid_until out also leaves its index alone,
-- where SQLite deletes and re-inserts the entry of every row it sets, moved or not.
WITH agg AS (
    SELECT
        person_id,
        max(effective_date) AS last_on,
        max(valid_until) AS last_until,
        max(yr) AS last_year
    FROM certified
    GROUP BY person_id
),
base AS (
    SELECT
        f.*,
        a.last_on,
        a.last_until,
        a.last_year,
        CASE
            WHEN f.strong_ref IS NOT NULL
                AND (f.status_since IS NULL
                     OR CAST(substr(f.strong_ref, 1, 10) AS DATE) > f.status_since)
            THEN CAST(substr(f.strong_ref, 1, 10) AS DATE)
        END AS deferred_on
    FROM facts AS f
    LEFT JOIN agg AS a ON a.person_id = f.person_id
    WHERE f.rare = 0
),
moved AS (
    SELECT
        person_id,
        has_row,
        status,
        status_since,
        death_date,
        updated_on,
        last_certified_on AS old_last_certified_on,
        channel AS old_channel,
        valid_until AS old_valid_until,
        certified_year AS old_certified_year,
        last_strong_event AS old_last_strong_event,
        last_weak_event AS old_last_weak_event,
        greatest(last_certified_on, last_on, deferred_on) AS last_certified_on,
        CASE
            WHEN (last_on IS NOT NULL
                  AND (last_certified_on IS NULL OR last_on >= last_certified_on))
                OR (deferred_on IS NOT NULL
                    AND (last_certified_on IS NULL OR deferred_on > last_certified_on))
            THEN 'auto' ELSE channel
        END AS channel,
        greatest(valid_until, last_until, add_months(deferred_on, months)) AS valid_until,
        greatest(certified_year, last_year) AS certified_year,
        coalesce(CAST(substr(strong_ref, 1, 10) AS DATE), last_strong_event)
            AS last_strong_event,
        coalesce(CAST(substr(weak_ref, 1, 10) AS DATE), last_weak_event) AS last_weak_event
    FROM base
),
flagged AS (
    SELECT
        m.*,
        CASE
            WHEN last_certified_on IS DISTINCT FROM old_last_certified_on
                OR channel IS DISTINCT FROM old_channel
                OR valid_until IS DISTINCT FROM old_valid_until
                OR certified_year IS DISTINCT FROM old_certified_year
                OR last_strong_event IS DISTINCT FROM old_last_strong_event
                OR last_weak_event IS DISTINCT FROM old_last_weak_event
            THEN 1 ELSE 0
        END AS changed,
        CASE WHEN last_certified_on IS DISTINCT FROM old_last_certified_on THEN 1 ELSE 0 END
            + CASE WHEN channel IS DISTINCT FROM old_channel THEN 2 ELSE 0 END
            + CASE WHEN valid_until IS DISTINCT FROM old_valid_until THEN 4 ELSE 0 END
            + CASE WHEN certified_year IS DISTINCT FROM old_certified_year THEN 8 ELSE 0 END
            + CASE WHEN last_strong_event IS DISTINCT FROM old_last_strong_event THEN 16 ELSE 0 END
            + CASE WHEN last_weak_event IS DISTINCT FROM old_last_weak_event THEN 32 ELSE 0 END
            AS moved_fields
    FROM moved AS m
)
SELECT
    person_id,
    status,
    status_since,
    last_certified_on,
    channel,
    valid_until,
    certified_year,
    last_strong_event,
    last_weak_event,
    death_date,
    CASE WHEN changed = 1 THEN {as_of} ELSE updated_on END AS updated_on,
    has_row,
    changed,
    moved_fields
FROM flagged
