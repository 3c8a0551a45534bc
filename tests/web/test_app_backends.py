"""The app on both backends (SQLite and PostgreSQL): log in, the menu by role, a person of
another grid not found, a person view audited and read by the auditor, CSRF, logout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from lifesign.config import load_settings
from lifesign.web.accounts import Scopes, create_user
from lifesign.web.app import create_app
from lifesign.web.models import AuditEntry

from .conftest import GRID_A, login_client

PASSWORD = "a long password 1"


@pytest.fixture
def backend_app(
    engine: Engine, database_url: str, small_registry: dict[str, int], tmp_path: Path
) -> Iterator[FastAPI]:
    with engine.begin() as conn:
        create_user(conn, "worker.a", PASSWORD, "community_worker", Scopes(grids=(GRID_A,)))
        create_user(conn, "audit.1", PASSWORD, "auditor")
        create_user(conn, "boss", PASSWORD, "admin")
    settings = load_settings(home=tmp_path / "home", database_url=database_url)
    settings.ensure_home()
    app = create_app(settings, engine=engine)
    yield app


def _menu(html: str) -> list[str]:
    menu = html.split('<nav class="menu"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'href="([^"]+)"', menu)


def test_the_app_on_both_backends(backend_app: FastAPI, small_registry: dict[str, int]) -> None:
    worker = login_client(backend_app, ("worker.a", PASSWORD))
    assert _menu(worker.get("/account").text) == ["/worklist", "/people"]
    assert worker.get(f"/people/{small_registry['B1']}").status_code == 404
    mine = worker.get(f"/people/{small_registry['A1']}")
    assert mine.status_code == 200, mine.text[:1000]
    assert "3416**********0021" in mine.text and "341602194703150021" not in mine.text
    assert worker.get("/audit").status_code == 403
    auditor = login_client(backend_app, ("audit.1", PASSWORD))
    assert _menu(auditor.get("/account").text) == [
        "/", "/people", "/sources", "/reviews", "/cases", "/quarantine", "/payments", "/audit",
    ]  # fmt: skip
    admin = login_client(backend_app, ("boss", PASSWORD))
    assert _menu(admin.get("/account").text)[-2:] == ["/audit", "/admin/users"]
    # the admin's users page, a CSRF refusal and a change, on this backend
    assert "worker.a" in admin.get("/admin/users").text
    assert admin.post("/admin/users/worker.a/disable", follow_redirects=False).status_code == 403
    assert admin.post_form("/admin/users/worker.a/disable").status_code == 303
    assert worker.get("/account", follow_redirects=False).status_code == 303
    engine: Engine = backend_app.state.engine
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.action, AuditEntry.target)).all()
    assert ("manage_users", "user:worker.a") in [tuple(r) for r in rows]
    assert "disable user" in auditor.get("/audit?action=manage_users").text
    seen = auditor.get(f"/audit?person={small_registry['A1']}").text
    assert "worker.a" in seen and "view_person" in seen
    assert auditor.post_form("/logout").status_code == 303
    assert auditor.get("/audit", follow_redirects=False).status_code == 303
