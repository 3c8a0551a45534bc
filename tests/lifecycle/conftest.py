"""Fixtures of the lifecycle tests: one small synthetic city, built once per session.

`lifecycle_city`: ~1,200 recipients, every feed. Tests copy the files they need into their
own home's inbox; the city itself is read-only.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings
from lifesign.synth.city import build_city
from lifesign.synth.config import SynthConfig

CITY_RECIPIENTS = 1200
CITY_SEED = 4242


@dataclass(frozen=True)
class LifecycleCity:
    root: Path

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
    return LifecycleCity(root)


def home_with_registry(
    tmp_path: Path, database_url: str, city: LifecycleCity
) -> tuple[Settings, Engine]:
    """A home on `database_url` with the city's registry imported."""
    from lifesign.registry.importer import RegistryImporter, rules_from_catalog
    from lifesign.registry.pseudonym import Pseudonymizer
    from lifesign.store import make_engine, migrate

    settings = Settings(home=tmp_path / "home", database_url=database_url, catalog_dir=None)
    settings.ensure_home()
    engine = make_engine(database_url)
    migrate(engine)
    importer = RegistryImporter(
        engine, Pseudonymizer.for_home(settings.secrets_dir), rules_from_catalog(None)
    )
    importer.import_dir(city.registry)
    return settings, engine


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
