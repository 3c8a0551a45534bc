"""Engines and migrations of the state database.

SQLite (the embedded default: a file in the home, WAL journal, foreign keys on) or PostgreSQL
15+ through psycopg 3 (`postgresql+psycopg://user:password@host/db`). `open_database` is what
every command calls: it creates the engine and upgrades the schema to the newest migration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from lifesign.config import Settings
from lifesign.errors import ConfigurationError, Location

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def redacted_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Reads by key dominate (the web app, the API's batch status): pages mapped from the OS
    # page cache and a 32 MiB page cache per connection cut their CPU by about a third at
    # Bozhou scale; mmap costs no private memory, so the limit is generous.
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite settings the platform relies on."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigurationError(
            "the database URL is not valid", str(error), Location(key="LIFESIGN_DATABASE_URL")
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _engine_of(target: str | Engine) -> Engine:
    return make_engine(target) if isinstance(target, str) else target


def migrate(target: str | Engine, revision: str = "head") -> None:
    """Upgrade the schema of the database at `target` (URL or engine) to `revision`."""
    engine = _engine_of(target)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    except OperationalError as error:
        raise ConfigurationError(
            "cannot reach the state database",
            str(error.orig).strip().splitlines()[0] if error.orig else str(error),
            Location(key=redacted_url(str(engine.url))),
        ) from None


def downgrade(target: str | Engine, revision: str) -> None:
    """Downgrade the schema to `revision` (`base` removes every table)."""
    engine = _engine_of(target)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), revision)


def current_revision(target: str | Engine) -> str | None:
    """The migration the database is at, or None when it has none."""
    engine = _engine_of(target)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def open_database(settings: Settings) -> Engine:
    """The engine of the settings' state database, upgraded to the newest schema."""
    if settings.database_url.startswith("sqlite"):
        settings.ensure_home()
    engine = make_engine(settings.database_url)
    migrate(engine)
    return engine


@contextmanager
def bulk_load(connection: Connection) -> Iterator[None]:
    """Settings for a large load on SQLite (no fsync until the end, a big cache).

    Enter it on a connection outside any transaction (SQLite refuses to change the safety
    level inside one), and begin the transaction inside it.
    """
    if not is_sqlite(connection):
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA synchronous=OFF")
    raw.execute("PRAGMA cache_size=-262144")
    raw.execute("PRAGMA temp_store=FILE")
    try:
        yield
    finally:
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA cache_size=-32768")
