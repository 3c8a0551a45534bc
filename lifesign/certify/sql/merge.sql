-- The summary of the records read (found.sql) merged into the stored summary: max / min of
-- refs field by field, so merging batch by batch equals summarising all records at once.
--
-- Input: found; stored_summary (person_id, strong_ref … moved_away_ref: the stored rows of
-- the persons found, merged into; empty for a full pass, which recomputes); previous_summary
-- (the rows in the table now: the same as stored_summary for an incremental pass, every row
-- for a full one); found_candidates.
-- Output: per person found, the merged refs; `changed` 1 when the merged summary differs
-- from the stored one (or there was none); `touched` 1 when the rules must look at the
-- person (changed, or a candidate certification); `written` 1 when the row to store differs
-- from the row in the table (a second full pass writes nothing); `is_absent` 1 when the table
-- has no row for the person; `written_fields` which fields differ from the table's row, one
-- bit each in the order of summary.FIELDS (strong 1, weak 2, death_first 4, death_last 8,
-- imprisoned 16, emigrated 32, moved_away 64: a row is updated in those columns only).
-- GREATEST / LEAST skip NULLs (DuckDB and Spark alike).
WITH merged AS (
    SELECT
        f.person_id,
        greatest(f.strong_ref, s.strong_ref) AS strong_ref,
        greatest(f.weak_ref, s.weak_ref) AS weak_ref,
        least(f.death_first_ref, s.death_first_ref) AS death_first_ref,
        greatest(f.death_last_ref, s.death_last_ref) AS death_last_ref,
        greatest(f.imprisoned_ref, s.imprisoned_ref) AS imprisoned_ref,
        greatest(f.emigrated_ref, s.emigrated_ref) AS emigrated_ref,
        greatest(f.moved_away_ref, s.moved_away_ref) AS moved_away_ref,
        CASE WHEN s.person_id IS NULL THEN 1 ELSE 0 END AS is_new,
        s.strong_ref AS old_strong_ref,
        s.weak_ref AS old_weak_ref,
        s.death_first_ref AS old_death_first_ref,
        s.death_last_ref AS old_death_last_ref,
        s.imprisoned_ref AS old_imprisoned_ref,
        s.emigrated_ref AS old_emigrated_ref,
        s.moved_away_ref AS old_moved_away_ref,
        CASE WHEN p.person_id IS NULL THEN 1 ELSE 0 END AS is_absent,
        p.strong_ref AS prev_strong_ref,
        p.weak_ref AS prev_weak_ref,
        p.death_first_ref AS prev_death_first_ref,
        p.death_last_ref AS prev_death_last_ref,
        p.imprisoned_ref AS prev_imprisoned_ref,
        p.emigrated_ref AS prev_emigrated_ref,
        p.moved_away_ref AS prev_moved_away_ref
    FROM found AS f
    LEFT JOIN stored_summary AS s ON s.person_id = f.person_id
    LEFT JOIN previous_summary AS p ON p.person_id = f.person_id
),
flagged AS (
    SELECT
        m.*,
        CASE
            WHEN is_new = 1
                OR strong_ref IS DISTINCT FROM old_strong_ref
                OR weak_ref IS DISTINCT FROM old_weak_ref
                OR death_first_ref IS DISTINCT FROM old_death_first_ref
                OR death_last_ref IS DISTINCT FROM old_death_last_ref
                OR imprisoned_ref IS DISTINCT FROM old_imprisoned_ref
                OR emigrated_ref IS DISTINCT FROM old_emigrated_ref
                OR moved_away_ref IS DISTINCT FROM old_moved_away_ref
            THEN 1 ELSE 0
        END AS changed,
        CASE
            WHEN is_absent = 1
                OR strong_ref IS DISTINCT FROM prev_strong_ref
                OR weak_ref IS DISTINCT FROM prev_weak_ref
                OR death_first_ref IS DISTINCT FROM prev_death_first_ref
                OR death_last_ref IS DISTINCT FROM prev_death_last_ref
                OR imprisoned_ref IS DISTINCT FROM prev_imprisoned_ref
                OR emigrated_ref IS DISTINCT FROM prev_emigrated_ref
                OR moved_away_ref IS DISTINCT FROM prev_moved_away_ref
            THEN 1 ELSE 0
        END AS written,
        CASE WHEN strong_ref IS DISTINCT FROM prev_strong_ref THEN 1 ELSE 0 END
            + CASE WHEN weak_ref IS DISTINCT FROM prev_weak_ref THEN 2 ELSE 0 END
            + CASE WHEN death_first_ref IS DISTINCT FROM prev_death_first_ref THEN 4 ELSE 0 END
            + CASE WHEN death_last_ref IS DISTINCT FROM prev_death_last_ref THEN 8 ELSE 0 END
            + CASE WHEN imprisoned_ref IS DISTINCT FROM prev_imprisoned_ref THEN 16 ELSE 0 END
            + CASE WHEN emigrated_ref IS DISTINCT FROM prev_emigrated_ref THEN 32 ELSE 0 END
            + CASE WHEN moved_away_ref IS DISTINCT FROM prev_moved_away_ref THEN 64 ELSE 0 END
            AS written_fields
    FROM merged AS m
)
SELECT
    f.person_id,
    f.strong_ref, f.weak_ref, f.death_first_ref, f.death_last_ref,
    f.imprisoned_ref, f.emigrated_ref, f.moved_away_ref,
    f.changed,
    f.written,
    f.is_absent,
    f.written_fields,
    CASE
        WHEN f.changed = 1
            OR EXISTS (SELECT 1 FROM found_candidates AS c WHERE c.person_id = f.person_id)
        THEN 1 ELSE 0
    END AS touched
FROM flagged AS f
