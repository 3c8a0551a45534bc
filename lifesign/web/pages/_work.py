"""What the work pages (reviews, cases, quarantine, payments) share: the catalog, the sources,
the officer's day, query-string parsing, and running a package's engine-level function from a
request that already holds a transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings
from lifesign.ingest.sources import SourceDefinition, load_sources
from lifesign.web.auth import Principal, now_of, page_user
from lifesign.web.db import connection

Result = TypeVar("Result")

# The dependencies of every work page: the logged-in user, and the request's transaction.
User = Annotated[Principal, Depends(page_user)]
Conn = Annotated[Connection, Depends(connection)]


def catalog_of(request: Request) -> Catalog:
    catalog = getattr(request.app.state, "catalog", None)
    if isinstance(catalog, Catalog):
        return catalog
    settings = settings_of(request)
    return _catalog(settings.catalog_dir)


@lru_cache(maxsize=4)
def _catalog(directory: Path | None) -> Catalog:
    return load_catalog(directory)


def settings_of(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def engine_of(request: Request) -> Engine:
    engine = request.app.state.engine
    assert isinstance(engine, Engine)
    return engine


def sources_of(request: Request) -> Mapping[str, SourceDefinition]:
    """The source definitions ($LIFESIGN_SOURCES, else the packaged ones), read once."""
    catalog = catalog_of(request)
    cached = getattr(request.app.state, "work_sources", None)
    if isinstance(cached, dict):
        return cached
    sources = load_sources(None, catalog)
    request.app.state.work_sources = sources
    return sources


def today(request: Request) -> dt.date:
    """The officer's day: the app's clock in the server's local time zone (a resolution
    at 07:30 in Bozhou is dated that day, not the previous UTC day)."""
    return now_of(request).astimezone().date()


def int_or_none(value: str | None) -> int | None:
    """A query-string integer; anything else (empty, text) is no value, not an error."""
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.isdigit() else None


def date_or_none(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def query_link(path: str, params: Mapping[str, Any], **changes: Any) -> str:
    """`path` with the current filters, some changed (None drops a parameter)."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def outside_transaction(conn: Connection, work: Callable[[], Result]) -> Result:
    """Run `work` — a package function that opens its own transactions on the engine (the
    quarantine's dismiss and retry, the payment export) — after committing what the request
    did so far (the session's refresh). On SQLite the request's open transaction would
    otherwise hold the write lock the function waits for, or keep a snapshot older than what
    the function commits. After this the request connection is finished: write the audit row
    through a new `engine.begin()`."""
    conn.commit()
    return work()


def source_names(request: Request) -> dict[str, dict[str, str]]:
    """Each source's name to show beside its code: the source's own Chinese name, and in
    English its department's name."""
    catalog = catalog_of(request)
    names: dict[str, dict[str, str]] = {}
    for code, source in sources_of(request).items():
        department = catalog.departments.get(source.department)
        names[code] = {
            "zh-CN": source.name_zh or code,
            "en": department.name_en if department else code,
        }
    return names
