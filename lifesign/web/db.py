"""One database transaction per request."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy import Connection, Engine


def engine_of(request: Request) -> Engine:
    engine = request.app.state.engine
    assert isinstance(engine, Engine)
    return engine


def connection(request: Request) -> Iterator[Connection]:
    """FastAPI dependency: a connection in a transaction, committed when the endpoint returns
    without an error and rolled back otherwise. FastAPI gives the same connection to every
    dependency of one request (page_user, the endpoint...)."""
    with engine_of(request).begin() as conn:
        yield conn
