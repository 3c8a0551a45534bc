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
evidence dates). Each trigger rewrites the part of the person's row its table feeds (a state
change the state part, in place; a benefit the enrollments part; a person the whole row) with
the SAME JSON functions lifesign.web.api.batchjson uses for its reference answer, so the text
is byte for byte the same (tests/web/api/test_status_documents.py compares every person on
both backends). What the triggers cost the pass: docs/api.md, Performance.

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

# The columns each table's answer part is made of: an update of any other column (the pass
# rewrites person_state's evidence dates for ~96 k persons a day) leaves the documents alone.
STATE_COLUMNS = ("status", "valid_until", "last_certified_on", "channel", "person_id")
ENROLLMENT_COLUMNS = ("program", "status", "external_ref", "person_id")
PEOPLE_COLUMNS = ("id_number", "last_certified_on", "last_certification_channel")

# A document is four texts: head + `true`/`false` (certified, decided at read time) + state +
# enrollments. Each part is built by the JSON functions of the reference answer
# (lifesign.web.api.batchjson): SQLite's json_object writes `"k":v` joined by `,`,
# PostgreSQL's json_build_object `"k" : v` joined by `, `. The state part is the object of the
# state's keys with an empty `enrollments` last, its `{` and `[]}` cut off; the enrollments
# part closes the document. {status}, {valid_until}, {certified_on}, {channel}: the values'
# SQL; {person}: the person id's.
PARTS = {
    "sqlite": {
        "head": """'{{"status":' || json_quote({status}) || ',"certified":'""",
        "state": """',' || substr(rtrim(json_object(
            'valid_until', {valid_until}, 'last_certified_on', {certified_on},
            'last_channel', {channel}, 'enrollments', json('[]')), '[]}}'), 2)""",
        "enrollments": """(
            SELECT json_group_array(json(json_object(
                'program', e.program, 'status', e.status, 'external_ref', e.external_ref)))
            FROM enrollments AS e WHERE e.person_id = {person}) || '}}'""",
    },
    "postgresql": {
        "head": """'{{"status" : ' || to_json(({status})::text)::text || ', "certified" : '""",
        "state": """', ' || substr(rtrim(json_build_object(
            'valid_until', {valid_until}, 'last_certified_on', {certified_on},
            'last_channel', {channel}, 'enrollments', '[]'::json)::text, '[]}}'), 2)""",
        # in enrollment order (the reference's too): a heap's order changes with updates
        "enrollments": """(
            SELECT coalesce(json_agg(json_build_object(
                'program', e.program, 'status', e.status, 'external_ref', e.external_ref)
                ORDER BY e.enrollment_id), '[]'::json)
            FROM enrollments AS e WHERE e.person_id = {person})::text || '}}'""",
    },
}
PERSONS = "people AS p LEFT OUTER JOIN person_state AS s ON s.person_id = p.person_id"
# The state's values as the reference reads them: the state's, else the registry's own.
JOINED = {
    "status": "coalesce(s.status, 'alive')",
    "valid_until": "s.valid_until",
    "certified_on": "coalesce(s.last_certified_on, p.last_certified_on)",
    "channel": "coalesce(s.channel, p.last_certification_channel)",
}


def _registry(column: str, person: str) -> str:
    return f"(SELECT {column} FROM people WHERE person_id = {person})"


def _insert(dialect: str, where: str) -> str:
    """Insert the whole documents of the persons (with an ID number) `where` selects."""
    part = PARTS[dialect]
    return (
        "INSERT INTO status_documents (id_number, person_id, status, valid_until, "
        "document_head, document_state, document_enrollments)\n"
        f"SELECT p.id_number, p.person_id, {JOINED['status']}, {JOINED['valid_until']},\n"
        f"{part['head'].format(**JOINED)},\n{part['state'].format(**JOINED)},\n"
        f"{part['enrollments'].format(person='p.person_id')}\n"
        f"FROM {PERSONS} WHERE p.id_number IS NOT NULL AND {where}"
    )


def _rebuild(dialect: str, person: str) -> str:
    """Rebuild a person's whole document (a new person, a new ID number: rare)."""
    return (
        f"DELETE FROM status_documents WHERE person_id = {person};\n"
        f"{_insert(dialect, f'p.person_id = {person}')};\n"
    )


def _set_state(dialect: str, person: str, when: str = "") -> str:
    """Rewrite the state parts of a person's document in place (one row of one B-tree).

    From the trigger's own row — `person` is NEW.person_id (NEW holds the state) or
    OLD.person_id (the state row is gone: the registry's values) — so that people is read only
    where the state lacks a value (coalesce stops at the first value that is not null)."""
    if person.startswith("NEW."):
        values = {
            "status": "coalesce(NEW.status, 'alive')",
            "valid_until": "NEW.valid_until",
            "certified_on": f"coalesce(NEW.last_certified_on, "
            f"{_registry('last_certified_on', person)})",
            "channel": f"coalesce(NEW.channel, {_registry('last_certification_channel', person)})",
        }
    else:
        values = {
            "status": "'alive'",
            "valid_until": "NULL",
            "certified_on": _registry("last_certified_on", person),
            "channel": _registry("last_certification_channel", person),
        }
    part = PARTS[dialect]
    return (
        f"UPDATE status_documents SET status = {values['status']}, "
        f"valid_until = {values['valid_until']},\n"
        f"document_head = {part['head'].format(**values)},\n"
        f"document_state = {part['state'].format(**values)}\n"
        f"WHERE person_id = {person}{when};\n"
    )


def _set_enrollments(dialect: str, person: str, when: str = "") -> str:
    """Rewrite the enrollments part of a person's document."""
    enrollments = PARTS[dialect]["enrollments"].format(person=person)
    return (
        f"UPDATE status_documents SET document_enrollments = {enrollments}\n"
        f"WHERE person_id = {person}{when};\n"
    )


def _changed(columns: tuple[str, ...], differ: str) -> str:
    return " OR ".join(f"OLD.{c} {differ} NEW.{c}" for c in columns)


# table -> (its columns in the answer, the statements that follow a person's row of it)
FOLLOW = {
    "person_state": (STATE_COLUMNS, _set_state),
    "enrollments": (ENROLLMENT_COLUMNS, _set_enrollments),
}


def _sqlite_triggers() -> list[str]:
    triggers = []
    # the old person's part too if a row moved to another person (never a cost otherwise:
    # SQLite skips a statement whose WHERE has a false constant term)
    moved = " AND OLD.person_id <> NEW.person_id"
    for table, (columns, follow) in FOLLOW.items():
        name = f"status_documents_{table}"
        triggers += [
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN\n"
            f"{follow('sqlite', 'NEW.person_id')}END",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN\n"
            f"{follow('sqlite', 'OLD.person_id')}END",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON {table}\n"
            f"WHEN {_changed(columns, 'IS NOT')} BEGIN\n"
            f"{follow('sqlite', 'OLD.person_id', moved)}{follow('sqlite', 'NEW.person_id')}END",
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
    statements = []
    for table, (columns, follow) in FOLLOW.items():
        name = f"status_documents_{table}"
        statements.append(
            _postgresql_function(
                name,
                "IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.person_id <> NEW.person_id) "
                f"THEN\n{follow('postgresql', 'OLD.person_id')}END IF;\n"
                f"IF TG_OP <> 'DELETE' THEN\n{follow('postgresql', 'NEW.person_id')}END IF;\n",
            )
        )
        statements += [
            f"CREATE TRIGGER {name}_insert_delete AFTER INSERT OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"FOR EACH ROW WHEN ({_changed(columns, 'IS DISTINCT FROM')}) "
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
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("document_head", sa.Text(), nullable=False),
        sa.Column("document_state", sa.Text(), nullable=False),
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
