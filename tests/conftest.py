"""Shared fixtures. `database_url`: every state-layer test runs on SQLite AND PostgreSQL.

PostgreSQL comes from $LIFESIGN_TEST_POSTGRES_URL (default
postgresql+psycopg://lifesign:lifesign@127.0.0.1:5432/lifesign_test). Each test gets a fresh,
uniquely named schema (dropped afterwards) and a URL whose search_path points at it. If the
server is unreachable the PostgreSQL variants are skipped — except when CI=true, where that is
a failure: CI must prove both backends.

A test that needs the schema at the newest migration anyway — one using the `engine` fixture,
or marked `migrated_database` (a module's `pytestmark`) — gets it already migrated, because the
ten Alembic migrations cost 0.5-0.9 s on SQLite and ~2 s on PostgreSQL per test on a busy
2-core machine:
- SQLite: a copy of a file migrated once per session (per test process);
- PostgreSQL: a schema migrated once and reused: after each test the tables it wrote to are
  truncated (new empty files: rows come back in insertion order, as in a new schema) and the
  sequences restarted (~30 ms a table written; a new schema's migrations cost ~2 s), and it is
  reused only if it still holds exactly the relations the migrations made (else it is dropped).
Either way it is what `migrate` made, with no rows but `alembic_version`'s, and `migrate` on it
finds nothing to do.

Parallel runs (pytest-xdist, `-n 2 --dist loadgroup`, as scripts/test.sh runs the suite): the
tests of a package whose session fixtures build a city (`SHARED_CITY_GROUPS`) run in one worker,
so each city is built once; the other modules are units of their own, and the policy cases are
spread one by one (`pytest_xdist_make_scheduler` below: xdist's own `xdist_group` marks do not
group under pytest 9.2, which no longer reads the node id xdist rewrites).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

DEFAULT_POSTGRES_URL = "postgresql+psycopg://lifesign:lifesign@127.0.0.1:5432/lifesign_test"
MIGRATED_MARK = "migrated_database"
TESTS_DIR = Path(__file__).parent
# Test folders whose modules share a session-scoped city (built once per worker): the xdist
# group of each of their modules. tests/integrity/test_city.py uses the ingestion tests' city.
SHARED_CITY_GROUPS = {
    "certify": "certify-city",
    "ingest": "city-1500",
    "integrity/test_city.py": "city-1500",
    "lifecycle": "lifecycle-city",
    "replay": "replay-city",
    "synth": "synth-city",
    "web": "web-city",
}
# Modules whose tests share no expensive fixture: each test is a unit of its own.
SPREAD_MODULES = {"policy/test_policy.py"}
# Modules whose tests migrate `database_url` themselves (the policy runner, the lifecycle homes,
# the ingestion worlds): they are marked `migrated_database`, so the migrations are not run
# again per test. (Not tests/ingest/test_pull.py: its `database_url` is also a department's own.)
MIGRATED_MODULES = {
    "policy/test_policy.py",
    "lifecycle/test_run_day.py",
    "ingest/test_pipeline.py",
    "ingest/test_quarantine.py",
}

# The lake's staged files are not fsynced in tests (lifesign/ingest/lake.py: a killed process
# keeps the page cache; only a power loss loses it). Set for the whole run, not by whichever
# fixture happened to run first in a process, so every worker runs the same way.
os.environ.setdefault("LIFESIGN_LAKE_FSYNC", "0")
# An xdist worker starts with COLUMNS=80 and LINES=24 in its environment, which the CLI's rich
# consoles, made when their module is imported, keep as a fixed width: tables then wrap file
# names that the tests look for. The main process has neither; remove them before any import.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def _relative(item: pytest.Item) -> str | None:
    """The item's module path under tests/, or None outside it."""
    if not item.path.is_relative_to(TESTS_DIR):
        return None
    return item.path.relative_to(TESTS_DIR).as_posix()


def _xdist_unit(nodeid: str) -> str:
    """The unit of work of a test under `--dist loadgroup`: its shared city's group, else its
    module, or the test itself in SPREAD_MODULES."""
    module = nodeid.split("::", 1)[0]
    relative = module.removeprefix("tests/")
    if relative in SPREAD_MODULES:
        return nodeid
    for prefix, group in SHARED_CITY_GROUPS.items():
        if relative == prefix or relative.startswith(prefix + "/"):
            return group
    return module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`: whole units (above) to a worker, the biggest (in tests) first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedCityScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _xdist_unit(nodeid)

    return SharedCityScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The `migrated_database` marks of MIGRATED_MODULES."""
    for item in items:
        if _relative(item) in MIGRATED_MODULES:
            item.add_marker(pytest.mark.migrated_database)


_admin_engine: Engine | None = None
_unreachable: str | None = None


def postgres_admin_url() -> str:
    return os.environ.get("LIFESIGN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _postgres_admin() -> Engine:
    """One engine on the test database for creating and dropping schemas, or skip/fail."""
    global _admin_engine, _unreachable
    if _admin_engine is None and _unreachable is None:
        engine = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            _admin_engine = engine
        except OperationalError as error:
            engine.dispose()
            _unreachable = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    if _admin_engine is None:
        url = make_url(postgres_admin_url()).render_as_string(hide_password=True)
        message = f"PostgreSQL unreachable at {url}: {_unreachable}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    return _admin_engine


def _schema_url(schema: str) -> str:
    url = make_url(postgres_admin_url()).render_as_string(hide_password=False)
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def _wants_migrated(request: pytest.FixtureRequest) -> bool:
    return "engine" in request.fixturenames or (
        request.node.get_closest_marker(MIGRATED_MARK) is not None
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, self-contained (no WAL beside it): copied per test."""
    from lifesign.store import make_engine, migrate

    folder = tmp_path_factory.mktemp("database-template")
    engine = make_engine(f"sqlite:///{folder / 'migrated.db'}")
    try:
        migrate(engine)
    finally:
        engine.dispose()
    template = folder / "template.db"
    with closing(sqlite3.connect(folder / "migrated.db")) as connection:
        connection.execute("VACUUM INTO ?", (str(template),))
    return template


_RELATIONS = text(
    "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = :schema ORDER BY 1, 2"
)
_SEQUENCES = text("SELECT sequencename FROM pg_sequences WHERE schemaname = :schema")
_VERSIONS = "SELECT version_num FROM {schema}.alembic_version ORDER BY 1"
_WRITTEN = text(
    "SELECT tablename FROM pg_tables WHERE schemaname = :schema AND tablename <> 'alembic_version'"
    " AND pg_relation_size(format('%I.%I', schemaname, tablename)) > 0"
)


class MigratedSchemas:
    """PostgreSQL schemas at head, handed out one per test and emptied for the next one."""

    def __init__(self, admin: Engine) -> None:
        self.admin = admin
        self.idle: list[str] = []
        self.made: list[str] = []
        self.relations: list[tuple[str, str]] | None = None  # what a migrated schema holds
        self.versions: list[str] | None = None

    def _shape(self, schema: str) -> tuple[list[tuple[str, str]], list[str]]:
        with self.admin.connect() as connection:
            relations = [(r[0], r[1]) for r in connection.execute(_RELATIONS, {"schema": schema})]
            versions = list(connection.exec_driver_sql(_VERSIONS.format(schema=schema)).scalars())
        return relations, versions

    def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        from lifesign.store import make_engine, migrate

        schema = f"t_{uuid.uuid4().hex[:16]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        self.made.append(schema)
        engine = make_engine(_schema_url(schema))
        try:
            migrate(engine)
        finally:
            engine.dispose()
        if self.relations is None:
            self.relations, self.versions = self._shape(schema)
        return schema

    def give_back(self, schema: str) -> None:
        """Empty the schema for the next test, or drop it if the test changed its shape."""
        try:
            if self._shape(schema) != (self.relations, self.versions):
                raise LookupError("the test changed the schema")
            with self.admin.begin() as connection:
                # only the tables a test wrote to have pages: TRUNCATE gives them new, empty
                # files, so the next test sees rows in the order it inserts them, as in a new
                # schema (a DELETE would leave the old pages, and PostgreSQL may reuse them)
                written = list(connection.execute(_WRITTEN, {"schema": schema}).scalars())
                sequences = list(connection.execute(_SEQUENCES, {"schema": schema}).scalars())
                # a connection the test left in a transaction must not hang the suite
                statements = ["SET LOCAL lock_timeout = '10s'"]
                if written:
                    names = ", ".join(f'{schema}."{name}"' for name in written)
                    statements.append(f"TRUNCATE {names} CASCADE")
                statements += [f"SELECT setval('{schema}.\"{s}\"', 1, false)" for s in sequences]
                connection.exec_driver_sql("; ".join(statements))
        except Exception:
            self.drop(schema)
            return
        self.idle.append(schema)

    def drop(self, schema: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if schema in self.made:
            self.made.remove(schema)

    def close(self) -> None:
        for schema in list(self.made):
            self.drop(schema)


@pytest.fixture(scope="session")
def migrated_schemas() -> Iterator[MigratedSchemas]:
    schemas = MigratedSchemas(_postgres_admin())
    try:
        yield schemas
    finally:
        schemas.close()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a fresh SQLite file, or a fresh PostgreSQL schema. Already
    at head (see above) for tests using `engine` or marked `migrated_database`."""
    migrated = _wants_migrated(request)
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin = _postgres_admin()
    if migrated:
        schemas: MigratedSchemas = request.getfixturevalue("migrated_schemas")
        schema = schemas.take()
        try:
            yield _schema_url(schema)
        finally:
            schemas.give_back(schema)
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield _schema_url(schema)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on `database_url`, upgraded to the newest schema."""
    from lifesign.store import make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine)  # nothing to do on a migrated copy (see above); proves it is at head
    try:
        yield engine
    finally:
        engine.dispose()
