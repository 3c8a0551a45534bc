"""Fixtures of the lifecycle tests: one small synthetic city, built once per session.

`lifecycle_city`: ~1,200 recipients, every feed. Tests copy the files they need into their
own home's inbox; the city itself is read-only.
`home_with_registry`: a home with the city's registry imported. On SQLite it is a copy of a
home imported once per session (its database and its pseudonym secret: the same home as a new
import gives, bar the import batch's clock times), because nine tests start from it and an
import costs seconds; on PostgreSQL the registry is imported into the test's own schema.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, make_url, text

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings
from lifesign.synth.city import build_city
from lifesign.synth.config import SynthConfig

CITY_RECIPIENTS = 1200
CITY_SEED = 4242


@dataclass(frozen=True)
class LifecycleCity:
    root: Path
    scratch: Path  # where the imported registry's home is kept (made on first use)

    @property
    def feeds(self) -> Path:
        return self.root / "feeds"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    def files_until(self, last_day: dt.date, first_day: dt.date | None = None) -> list[Path]:
        """The feed files whose last event is on or before `last_day` (and, when given, on
        or after `first_day`): what a department has sent by the next morning."""
        with open(self.feeds / "manifest.csv", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return [
            self.feeds / row["file"]
            for row in rows
            if dt.date.fromisoformat(row["last_event"]) <= last_day
            and (first_day is None or dt.date.fromisoformat(row["last_event"]) >= first_day)
        ]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(None)


@pytest.fixture(scope="session")
def lifecycle_city(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> LifecycleCity:
    root = tmp_path_factory.mktemp("lifecycle-city")
    build_city(
        SynthConfig(recipients=CITY_RECIPIENTS, seed=CITY_SEED, out=root, workers=1), catalog
    )
    return LifecycleCity(root, tmp_path_factory.mktemp("lifecycle-registry"))


def _import_registry(settings: Settings, city: LifecycleCity) -> Engine:
    from lifesign.registry.importer import RegistryImporter, rules_from_catalog
    from lifesign.registry.pseudonym import Pseudonymizer
    from lifesign.store import make_engine, migrate

    settings.ensure_home()
    engine = make_engine(settings.database_url)
    migrate(engine)
    importer = RegistryImporter(
        engine, Pseudonymizer.for_home(settings.secrets_dir), rules_from_catalog(None)
    )
    importer.import_dir(city.registry)
    return engine


def _imported_home(city: LifecycleCity) -> Settings:
    """The SQLite home with the city's registry imported, made once."""
    home = city.scratch / "home"
    settings = Settings(
        home=home, database_url=f"sqlite:///{home / 'lifesign.db'}", catalog_dir=None
    )
    if not (city.scratch / "imported").exists():
        _import_registry(settings, city).dispose()
        (city.scratch / "imported").touch()
    return settings


def home_with_registry(
    tmp_path: Path, database_url: str, city: LifecycleCity
) -> tuple[Settings, Engine]:
    """A home on `database_url` with the city's registry imported."""
    from lifesign.store import make_engine

    settings = Settings(home=tmp_path / "home", database_url=database_url, catalog_dir=None)
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return settings, _import_registry(settings, city)
    imported = _imported_home(city)
    settings.ensure_home()
    shutil.copytree(imported.secrets_dir, settings.secrets_dir, dirs_exist_ok=True)
    target = Path(url.database)
    target.parent.mkdir(parents=True, exist_ok=True)
    # through SQLite's backup: the template's WAL may hold committed pages a file copy misses
    with (
        closing(sqlite3.connect(imported.home / "lifesign.db")) as source,
        closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)
    return settings, make_engine(database_url)


def drop_into_inbox(settings: Settings, files: list[Path]) -> None:
    inbox = settings.home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy2(path, inbox / path.name)


def row_counts(engine: Engine) -> dict[str, int]:
    """The number of rows of every table of the state database."""
    with engine.connect() as connection:
        names = inspect(connection).get_table_names()
        return {
            name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in sorted(names)
        }
