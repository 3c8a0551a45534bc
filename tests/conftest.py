"""Shared fixtures. `database_url`: every state-layer test runs on SQLite AND PostgreSQL.

PostgreSQL comes from $LIFESIGN_TEST_POSTGRES_URL (default
postgresql+psycopg://lifesign:lifesign@127.0.0.1:5432/lifesign_test). Each test gets a fresh,
uniquely named schema (dropped afterwards) and a URL whose search_path points at it. If the
server is unreachable the PostgreSQL variants are skipped — except when CI=true, where that is
a failure: CI must prove both backends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import OperationalError

DEFAULT_POSTGRES_URL = "postgresql+psycopg://lifesign:lifesign@127.0.0.1:5432/lifesign_test"

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


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    admin = _postgres_admin()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(postgres_admin_url()).render_as_string(hide_password=False)
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on `database_url`, upgraded to the newest schema."""
    from lifesign.store import make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
