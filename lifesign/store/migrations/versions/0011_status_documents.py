"""The batch status's read model: `status_documents`, kept in step by triggers (issue 5).

A batch of 10,000 ID numbers joined people, person_state and enrollments and built each
person's JSON in the database: ~365-400 ms of CPU per call at Bozhou scale, too much for four
concurrent clients on two cores. `status_documents` holds each person's answer prebuilt (all
but `certified`, which depends on the day asked about), keyed by the ID number: a batch is one
probe per number.

Triggers, not application code, keep it in step: the pass's bulk writes, the manual channels,
the lifecycle, registry imports and tests all write these three tables, and a database
trigger is the one place none of them can forget. person_state's update trigger fires only
when a column of the answer changes (the daily pass rewrites ~96 k state rows a day for its
evidence dates). Each trigger rebuilds the person's row with the SAME JSON functions
lifesign.web.api.batchjson uses for its reference answer, so the text is byte for byte the
same (tests/web/api/test_status_documents.py compares every person on both backends).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# person_state's columns in the answer: an update of any other column leaves it as it is.
STATE_COLUMNS = ("status", "valid_until", "last_certified_on", "channel", "person_id")
ENROLLMENT_COLUMNS = ("program", "status", "external_ref", "person_id")
PEOPLE_COLUMNS = ("id_number", "last_certified_on", "last_certification_channel")

# The document of each person selected by `{where}` (on `p`, people). The head ends where
# `certified`'s value goes; the tail starts after it. SQLite's json_object writes `"k":v`
# joined by `,`; PostgreSQL's json_build_object `"k" : v` joined by `, `.
SQLITE_DOCUMENTS = """
SELECT p.id_number, p.person_id, coalesce(s.status, 'alive'), s.valid_until,
       '{{"status":' || json_quote(coalesce(s.status, 'alive')) || ',"certified":',
       ',' || substr(json_object(
           'valid_until', s.valid_until,
           'last_certified_on', coalesce(s.last_certified_on, p.last_certified_on),
           'last_channel', coalesce(s.channel, p.last_certification_channel),
           'enrollments', json((
               SELECT json_group_array(json(json_object(
                   'program', e.program, 'status', e.status, 'external_ref', e.external_ref)))
               FROM enrollments AS e WHERE e.person_id = p.person_id))), 2)
FROM people AS p LEFT OUTER JOIN person_state AS s ON s.person_id = p.person_id
WHERE p.id_number IS NOT NULL AND {where}
"""
POSTGRESQL_DOCUMENTS = """
SELECT p.id_number, p.person_id, coalesce(s.status, 'alive'), s.valid_until,
       '{{"status" : ' || to_json(coalesce(s.status, 'alive')::text)::text || ', "certified" : ',
       ', ' || substr(json_build_object(
           'valid_until', s.valid_until,
           'last_certified_on', coalesce(s.last_certified_on, p.last_certified_on),
           'last_channel', coalesce(s.channel, p.last_certification_channel),
           'enrollments', (
               SELECT coalesce(json_agg(json_build_object(
                   'program', e.program, 'status', e.status, 'external_ref', e.external_ref)
                   ORDER BY e.enrollment_id), '[]'::json)
               FROM enrollments AS e WHERE e.person_id = p.person_id))::text, 2)
FROM people AS p LEFT OUTER JOIN person_state AS s ON s.person_id = p.person_id
WHERE p.id_number IS NOT NULL AND {where}
"""
INSERT = (
    "INSERT INTO status_documents "
    "(id_number, person_id, status, valid_until, document_head, document_tail)"
)


def _changed(columns: tuple[str, ...], differ: str) -> str:
    return " OR ".join(f"OLD.{c} {differ} NEW.{c}" for c in columns)


def _sqlite_refresh(person: str) -> str:
    """The statements that rebuild the document of the person `person` (OLD.x or NEW.x).

    Delete, then insert — not INSERT OR REPLACE: inside a trigger SQLite applies the OUTER
    statement's conflict clause instead (an INSERT OR IGNORE into people would then leave the
    old document)."""
    return (
        f"DELETE FROM status_documents WHERE person_id = {person};\n"
        f"{INSERT}{SQLITE_DOCUMENTS.format(where=f'p.person_id = {person}')};\n"
    )


def _sqlite_triggers() -> list[str]:
    triggers = []
    watched = {
        "person_state": STATE_COLUMNS,
        "enrollments": ENROLLMENT_COLUMNS,
        "people": PEOPLE_COLUMNS,
    }
    for table, columns in watched.items():
        name = f"status_documents_{table}"
        triggers.append(
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN\n"
            f"{_sqlite_refresh('NEW.person_id')}END"
        )
        triggers.append(
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN\n"
            f"{_sqlite_refresh('OLD.person_id')}END"
        )
        # the old person too where a row can move to another one (person_id in `columns`)
        old = _sqlite_refresh("OLD.person_id") if "person_id" in columns else ""
        triggers.append(
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON {table}\n"
            f"WHEN {_changed(columns, 'IS NOT')} BEGIN\n"
            f"{old}{_sqlite_refresh('NEW.person_id')}END"
        )
    return triggers


POSTGRESQL_FUNCTIONS = [
    f"""
CREATE FUNCTION status_documents_refresh(person bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM status_documents WHERE person_id = person;
    {INSERT}{POSTGRESQL_DOCUMENTS.format(where="p.person_id = person")};
END
$$
""",
    """
CREATE FUNCTION status_documents_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM status_documents_refresh(OLD.person_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.person_id <> OLD.person_id) THEN
        PERFORM status_documents_refresh(NEW.person_id);
    END IF;
    RETURN NULL;
END
$$
""",
]


def _postgresql_triggers() -> list[str]:
    triggers = []
    watched = {
        "person_state": STATE_COLUMNS,
        "enrollments": ENROLLMENT_COLUMNS,
        "people": PEOPLE_COLUMNS,
    }
    for table, columns in watched.items():
        name = f"status_documents_{table}"
        triggers.append(
            f"CREATE TRIGGER {name}_insert_delete AFTER INSERT OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION status_documents_follow()"
        )
        triggers.append(
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"FOR EACH ROW WHEN ({_changed(columns, 'IS DISTINCT FROM')}) "
            "EXECUTE FUNCTION status_documents_follow()"
        )
    return triggers


def upgrade() -> None:
    op.create_table(
        "status_documents",
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("document_head", sa.Text(), nullable=False),
        sa.Column("document_tail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id_number", name=op.f("pk_status_documents")),
        sa.UniqueConstraint("person_id", name=op.f("uq_status_documents_person_id")),
        sqlite_with_rowid=False,
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    documents = SQLITE_DOCUMENTS if sqlite else POSTGRESQL_DOCUMENTS
    # the existing persons, in key order (the B-tree is appended to, not split at random)
    op.execute(f"{INSERT}{documents.format(where='1 = 1')} ORDER BY p.id_number")
    for statement in _sqlite_triggers() if sqlite else POSTGRESQL_FUNCTIONS:
        op.execute(statement)
    if not sqlite:
        for statement in _postgresql_triggers():
            op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in ("person_state", "enrollments", "people"):
        name = f"status_documents_{table}"
        if sqlite:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{event}")
        else:
            for event in ("insert_delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{event} ON {table}")
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS status_documents_follow()")
        op.execute("DROP FUNCTION IF EXISTS status_documents_refresh(bigint)")
    op.drop_table("status_documents")
