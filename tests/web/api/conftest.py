"""Fixtures of the API tests.

- `registry_app` (SQLite and PostgreSQL, via `engine`): the app over a tiny synthetic
  registry (four recipients in two grids) in a fresh home — for tokens, the call log, status,
  evidence push and the manual channels on both backends.
- `city_app`: the app over a private copy of W1's replayed city (`web_home`, SQLite) — for
  changes, tasks and statistics over real decisions.
- `ApiClient.token(...)`: creates a token the way `lifesign api token create` does and answers
  the Authorization header.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings, load_settings
from lifesign.registry.ids import check_character
from lifesign.store.models import Enrollment, Person
from lifesign.web.api.tokens import create_token


def id_number(region: str, birth: str, sequence: str) -> str:
    first17 = region + birth + sequence
    return first17 + check_character(first17)


@dataclass(frozen=True)
class Recipient:
    key: str
    person_id: int
    id_number: str
    grid: str
    program: str


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(None)


@pytest.fixture(scope="session")
def grids(catalog: Catalog) -> tuple[str, str]:
    found = sorted(code for code, r in catalog.regions.by_code.items() if r.level == "grid")
    return found[0], found[-1]


@pytest.fixture
def recipients(engine: Engine, grids: tuple[str, str]) -> dict[str, Recipient]:
    """Four synthetic recipients: A1, A2 in the first grid, B1, B2 in the last one."""
    people = {
        "A1": (id_number("341602", "19470315", "002"), grids[0], "resident_pension"),
        "A2": (id_number("341602", "19380506", "003"), grids[0], "longevity_allowance"),
        "B1": (id_number("341621", "19501111", "004"), grids[1], "resident_pension"),
        "B2": (id_number("341621", "19520202", "005"), grids[1], "dibao"),
    }
    found: dict[str, Recipient] = {}
    with engine.begin() as conn:
        for n, (key, (number, grid, program)) in enumerate(people.items()):
            person_id = conn.execute(
                insert(Person)
                .values(
                    pseudonym=f"{n:032x}",
                    id_number=number,
                    name=f"测试{key}",
                    sex="F",
                    grid_code=grid,
                    phone=f"1380000{n:04d}",
                    address=f"测试地址{n}号",
                )
                .returning(Person.person_id)
            ).scalar_one()
            conn.execute(
                insert(Enrollment).values(
                    external_ref=f"E-{key}",
                    person_id=person_id,
                    program=program,
                    start_date=dt.date(2020, 1, 1),
                    monthly_amount=Decimal("150.00"),
                    status="active",
                )
            )
            found[key] = Recipient(key, int(person_id), number, grid, program)
    return found


class ApiClient(TestClient):
    """A TestClient of the app that makes department tokens."""

    app_: FastAPI

    def token(
        self, department: str = "civil_affairs", *scopes: str, name: str | None = None
    ) -> dict[str, str]:
        state = self.app_.state
        made = getattr(state, "test_tokens", 0) + 1
        state.test_tokens = made
        _, secret = create_token(
            state.engine,
            state.catalog,
            department=department,
            name=name or f"test-{made}",
            scopes=frozenset(scopes),
        )
        return {"Authorization": f"Bearer {secret}"}


def _client(app: FastAPI) -> ApiClient:
    client = ApiClient(app, base_url="http://testserver")
    client.app_ = app
    return client


@pytest.fixture
def registry_app(
    database_url: str, engine: Engine, recipients: dict[str, Recipient], tmp_path: Path
) -> Iterator[FastAPI]:
    from lifesign.web.app import create_app

    settings = load_settings(home=tmp_path / "home", database_url=database_url)
    settings.ensure_home()
    yield create_app(settings, engine=engine)


@pytest.fixture
def api(registry_app: FastAPI) -> Iterator[ApiClient]:
    with _client(registry_app) as client:
        yield client


@pytest.fixture
def city_app(web_home: Settings) -> Iterator[FastAPI]:
    from lifesign.web.app import create_app

    app = create_app(web_home)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def city_api(city_app: FastAPI) -> Iterator[ApiClient]:
    with _client(city_app) as client:
        yield client
