"""The batch status's read model: `status_documents`, kept in step by triggers (issue 5).

A batch of 10,000 ID numbers joined people, person_state and enrollments and built each
person's JSON in the database: ~365-400 ms of CPU per call at Bozhou scale, too much for four
concurrent clients on two cores. `status_documents` holds, keyed by the ID number, what of a
person's answer changes rarely: their person id, the registry's own certification
(people.last_certified_on / last_certification_channel: the answer's values where the state
has none) and their benefits as the answer's JSON text. A batch probes it once per number,
then reads person_state by person id (lifesign.web.api.statusdocs).

Triggers, not application code, keep it in step: registry imports, the lifecycle, the manual
channels and tests all write people and enrollments, and a database trigger is the one place
none of them can forget. A person's row rewrites their document, a benefit the enrollments
part, with the SAME JSON functions lifesign.web.api.batchjson uses for its reference answer,
so the text is byte for byte the same (tests/web/api/test_status_documents.py compares every
person on both backends). No trigger on person_state, and no state in the document: the
daily pass writes ~45 k certifications a Bozhou day, and triggers rewriting a document for
each cost the day +4.6 s CPU (docs/certification.md, 2026-11-29) — the batch reads the state
instead (docs/decisions.md, 19).

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

# The columns each table's document part is made of: an update of any other column (an
# amount, a name, a phone) leaves the documents alone.
ENROLLMENT_COLUMNS = ("program", "status", "external_ref", "person_id")
PEOPLE_COLUMNS = ("id_number", "last_certified_on", "last_certification_channel")

# The enrollments part: the person's benefits as the reference (lifesign.web.api.batchjson)
# writes them, closing the document — the reader builds the object of the state's keys with an
# empty `enrollments` last and puts this in place of its `[]}`. SQLite's json_object writes
# `"k":v` joined by `,`, PostgreSQL's json_build_object `"k" : v` joined by `, `; the array is
# built here by the same functions as in the reference, so the text is the same. {person}: the
# person id's SQL.
ENROLLMENTS = {
    "sqlite": """(
        SELECT json_group_array(json(json_object(
            'program', e.program, 'status', e.status, 'external_ref', e.external_ref)))
        FROM enrollments AS e WHERE e.person_id = {person}) || '}}'""",
    # in enrollment order (the reference's too): a heap's order changes with updates
    "postgresql": """(
        SELECT coalesce(json_agg(json_build_object(
            'program', e.program, 'status', e.status, 'external_ref', e.external_ref)
            ORDER BY e.enrollment_id), '[]'::json)
        FROM enrollments AS e WHERE e.person_id = {person})::text || '}}'""",
}


def _insert(dialect: str, where: str) -> str:
    """Insert the documents of the persons (with an ID number) `where` selects."""
    return (
        "INSERT INTO status_documents (id_number, person_id, last_certified_on, "
        "last_certification_channel, document_enrollments)\n"
        "SELECT p.id_number, p.person_id, p.last_certified_on, p.last_certification_channel,\n"
        f"{ENROLLMENTS[dialect].format(person='p.person_id')}\n"
        f"FROM people AS p WHERE p.id_number IS NOT NULL AND {where}"
    )


def _rebuild(dialect: str, person: str) -> str:
    """Rebuild a person's document (a new person, a new ID number, the registry's own
    certification changed: rare)."""
    return (
        f"DELETE FROM status_documents WHERE person_id = {person};\n"
        f"{_insert(dialect, f'p.person_id = {person}')};\n"
    )


def _set_enrollments(dialect: str, person: str, when: str = "") -> str:
    """Rewrite the enrollments part of a person's document."""
    enrollments = ENROLLMENTS[dialect].format(person=person)
    return (
        f"UPDATE status_documents SET document_enrollments = {enrollments}\n"
        f"WHERE person_id = {person}{when};\n"
    )


def _changed(columns: tuple[str, ...], differ: str) -> str:
    return " OR ".join(f"OLD.{c} {differ} NEW.{c}" for c in columns)


def _sqlite_triggers() -> list[str]:
    # the old person's part too if a benefit moved to another person (never a cost otherwise:
    # SQLite skips a statement whose WHERE has a false constant term)
    moved = " AND OLD.person_id <> NEW.person_id"
    name = "status_documents_enrollments"
    columns = ", ".join(ENROLLMENT_COLUMNS)
    triggers = [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON enrollments BEGIN\n"
        f"{_set_enrollments('sqlite', 'NEW.person_id')}END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON enrollments BEGIN\n"
        f"{_set_enrollments('sqlite', 'OLD.person_id')}END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {columns} ON enrollments\n"
        f"WHEN {_changed(ENROLLMENT_COLUMNS, 'IS NOT')} BEGIN\n"
        f"{_set_enrollments('sqlite', 'OLD.person_id', moved)}"
        f"{_set_enrollments('sqlite', 'NEW.person_id')}END",
    ]
    name = "status_documents_people"
    triggers += [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON people BEGIN\n"
        f"{_rebuild('sqlite', 'NEW.person_id')}END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON people BEGIN\n"
        "DELETE FROM status_documents WHERE person_id = OLD.person_id;\nEND",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(PEOPLE_COLUMNS)} ON people\n"
        f"WHEN {_changed(PEOPLE_COLUMNS, 'IS NOT')} BEGIN\n"
        f"{_rebuild('sqlite', 'NEW.person_id')}END",
    ]
    return triggers


def _postgresql_function(name: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}RETURN NULL;\nEND\n$$"
    )


def _postgresql_triggers() -> list[str]:
    name = "status_documents_enrollments"
    statements = [
        _postgresql_function(
            name,
            "IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.person_id <> NEW.person_id) "
            f"THEN\n{_set_enrollments('postgresql', 'OLD.person_id')}END IF;\n"
            f"IF TG_OP <> 'DELETE' THEN\n{_set_enrollments('postgresql', 'NEW.person_id')}"
            "END IF;\n",
        ),
        f"CREATE TRIGGER {name}_insert_delete AFTER INSERT OR DELETE ON enrollments "
        f"FOR EACH ROW EXECUTE FUNCTION {name}()",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(ENROLLMENT_COLUMNS)} "
        f"ON enrollments FOR EACH ROW WHEN ({_changed(ENROLLMENT_COLUMNS, 'IS DISTINCT FROM')}) "
        f"EXECUTE FUNCTION {name}()",
    ]
    name = "status_documents_people"
    statements += [
        _postgresql_function(
            name,
            "IF TG_OP = 'DELETE' THEN\n"
            "DELETE FROM status_documents WHERE person_id = OLD.person_id;\n"
            f"ELSE\n{_rebuild('postgresql', 'NEW.person_id')}END IF;\n",
        ),
        f"CREATE TRIGGER {name}_insert_delete AFTER INSERT OR DELETE ON people "
        f"FOR EACH ROW EXECUTE FUNCTION {name}()",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(PEOPLE_COLUMNS)} ON people "
        f"FOR EACH ROW WHEN ({_changed(PEOPLE_COLUMNS, 'IS DISTINCT FROM')}) "
        f"EXECUTE FUNCTION {name}()",
    ]
    return statements


def upgrade() -> None:
    op.create_table(
        "status_documents",
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("last_certified_on", sa.Date(), nullable=True),
        sa.Column("last_certification_channel", sa.String(length=16), nullable=True),
        sa.Column("document_enrollments", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id_number", name=op.f("pk_status_documents")),
        sa.UniqueConstraint("person_id", name=op.f("uq_status_documents_person_id")),
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    # the existing persons, in key order (the B-tree is appended to, not split at random)
    op.execute(f"{_insert(dialect, '1 = 1')} ORDER BY p.id_number")
    for statement in _sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers():
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # person_state's too: a database at this revision as it first landed (2026-11-29, before
    # its person_state triggers were taken out) still has them
    for table in ("person_state", "enrollments", "people"):
        name = f"status_documents_{table}"
        if sqlite:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{event}")
        else:
            for event in ("insert_delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{event} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("status_documents")
