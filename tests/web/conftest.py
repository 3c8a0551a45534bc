"""Fixtures of the web tests.

- `web_city` (session): a small synthetic city (300 recipients, seed 11) with its registry
  imported, four months loaded as history and one week replayed day by day, in a temp home on
  SQLite, with the demo accounts (one per role) created; yields its Settings. Shared: do not
  write to it — a test that writes uses `web_home` (a copy of the home in tmp_path).
- `users` (session): the demo logins by key: admin, officer, datamgr, worker, auditor.
- `web_app` (session): the app over `web_city`.
- `client` (function): `client("worker")` → a logged-in TestClient over `web_app`, which knows
  the session's CSRF token (`.csrf_token`) and posts forms with it (`.post_form(url, data)`).
- `home_app` / `home_client`: the same over `web_home`, for tests that write.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lifesign.config import Settings, load_settings
from lifesign.web.demo_accounts import DemoLogin
from tests.cities import replayed_home

CITY_RECIPIENTS = 300
CITY_SEED = 11
HISTORY_DAYS = 120  # days of the window loaded as history before the replayed week
REPLAY_DAYS = 7
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def _settings(home: Path) -> Settings:
    return load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")


@pytest.fixture(scope="session")
def web_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    yield replayed_home(
        tmp_path_factory.mktemp("web-city"),
        recipients=CITY_RECIPIENTS,
        seed=CITY_SEED,
        history_days=HISTORY_DAYS,
        replay_days=REPLAY_DAYS,
    )


@pytest.fixture(scope="session")
def users(web_city: Settings) -> dict[str, DemoLogin]:
    """The demo logins (created in `web_city`), by key."""
    from lifesign.web.demo_accounts import DEMO_LOGINS

    return {login.key: login for login in DEMO_LOGINS}


@pytest.fixture
def web_home(web_city: Settings, tmp_path: Path) -> Settings:
    """A private copy of the web city's home (SQLite file and lake), for tests that write."""
    home = tmp_path / "home"
    shutil.copytree(web_city.home, home, ignore=shutil.ignore_patterns("*.db-wal", "*.db-shm"))
    # the WAL may hold committed pages: copy the database through SQLite's backup instead
    import sqlite3

    source = sqlite3.connect(web_city.home / "lifesign.db")
    target = sqlite3.connect(home / "lifesign.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return _settings(home)


class WebClient(TestClient):
    """A TestClient logged in as one user; knows the session's CSRF token."""

    csrf_token: str = ""

    def refresh_csrf(self, path: str = "/account") -> str:
        page = self.get(path)
        found = CSRF_META.search(page.text)
        assert found, f"no csrf meta tag on {path} ({page.status_code})"
        self.csrf_token = found.group(1)
        return self.csrf_token

    def post_form(
        self, url: str, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """POST a form carrying the session's CSRF token (no redirect followed)."""
        fields = {"csrf_token": self.csrf_token, **(data or {})}
        kwargs.setdefault("follow_redirects", False)
        return self.post(url, data=fields, **kwargs)


def login_client(app: FastAPI, login: DemoLogin | tuple[str, str]) -> WebClient:
    """A client of `app` logged in with the given login (a DemoLogin or (username, password))."""
    username, password = (login.username, login.password) if isinstance(login, DemoLogin) else login
    client = WebClient(app, base_url="http://testserver")
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
    assert token, form.text[:500]
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, (answer.status_code, answer.text[:500])
    client.refresh_csrf()
    return client


@pytest.fixture(scope="session")
def web_app(web_city: Settings) -> Iterator[FastAPI]:
    from lifesign.web.app import create_app

    app = create_app(web_city)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(web_app: FastAPI, users: dict[str, DemoLogin]) -> Iterator[Callable[[str], WebClient]]:
    """`client("worker")`: a TestClient logged in as that demo user over the shared city."""
    made: list[WebClient] = []

    def make(key: str) -> WebClient:
        made.append(login_client(web_app, users[key]))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.fixture
def home_app(web_home: Settings) -> Iterator[FastAPI]:
    from lifesign.web.app import create_app

    app = create_app(web_home)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def home_client(
    home_app: FastAPI, users: dict[str, DemoLogin]
) -> Iterator[Callable[[str], WebClient]]:
    """Like `client`, over the private copy `web_home` (for tests that write)."""
    made: list[WebClient] = []

    def make(key: str) -> WebClient:
        made.append(login_client(home_app, users[key]))
        return made[-1]

    yield make
    for one in made:
        one.close()


# --------------------------------------------------------------------------------------------
# A tiny registry on either backend (`engine` of tests/conftest.py: SQLite and PostgreSQL)
# --------------------------------------------------------------------------------------------

GRID_A = "341602001001001"
GRID_B = "341602001001002"


@pytest.fixture
def small_registry(engine: Any) -> dict[str, int]:
    """Three synthetic persons: A1 (grid A, resident_pension), A2 (grid A, longevity_allowance),
    B1 (grid B, resident_pension); their person ids by name."""
    from decimal import Decimal

    from sqlalchemy import insert

    from lifesign.store.models import Enrollment, Person

    people = {
        "A1": ("341602194703150021", GRID_A, "resident_pension"),
        "A2": ("341602193805060032", GRID_A, "longevity_allowance"),
        "B1": ("341602195011110043", GRID_B, "resident_pension"),
    }
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        for n, (name, (id_number, grid, program)) in enumerate(people.items()):
            person_id = conn.execute(
                insert(Person)
                .values(pseudonym=f"{n:032d}", id_number=id_number, name=f"测试{name}",
                        sex="F", grid_code=grid)
                .returning(Person.person_id)
            ).scalar_one()  # fmt: skip
            conn.execute(
                insert(Enrollment).values(
                    external_ref=f"E-{name}", person_id=person_id, program=program,
                    start_date=dt.date(2020, 1, 1), monthly_amount=Decimal("150.00"),
                    status="active",
                )
            )  # fmt: skip
            ids[name] = int(person_id)
    return ids
