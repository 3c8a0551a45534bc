"""A small synthetic city for the certification tests, and homes that replay its feeds.

`certify_city`: ~1,000 recipients, every feed, built once per session (read-only).
`CityHome`: a lifesign home (SQLite) with the city's registry imported, into which the feed
files are ingested a month at a time, as they would have arrived.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings
from lifesign.ingest.pipeline import Ingestor
from lifesign.ingest.sources import load_sources
from lifesign.registry.importer import RegistryImporter, rules_from_catalog
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store import make_engine, migrate
from lifesign.synth.city import build_city
from lifesign.synth.config import SynthConfig

CITY_RECIPIENTS = 1000
CITY_SEED = 20250301


@dataclass(frozen=True)
class City:
    root: Path
    config: SynthConfig

    @property
    def manifest(self) -> list[dict[str, str]]:
        with (self.root / "feeds" / "manifest.csv").open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(None)


@pytest.fixture(scope="session")
def certify_city(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> City:
    root = tmp_path_factory.mktemp("certify-city")
    config = SynthConfig(recipients=CITY_RECIPIENTS, seed=CITY_SEED, out=root, workers=1)
    build_city(config, catalog)
    return City(root, config)


@dataclass
class CityHome:
    """A home with the city's registry; `ingest_until(day)` delivers the feed files whose
    first record is dated on or before `day` (so every record up to `day` is in the lake)."""

    city: City
    settings: Settings
    catalog: Catalog
    ingested: set[str] = field(default_factory=set)

    @classmethod
    def create(
        cls, city: City, home: Path, catalog: Catalog, database_url: str | None = None
    ) -> CityHome:
        settings = Settings(
            home=home,
            database_url=database_url or f"sqlite:///{home / 'state.db'}",
            catalog_dir=None,
        )
        settings.ensure_home()
        engine = make_engine(settings.database_url)
        migrate(engine)
        importer = RegistryImporter(
            engine,
            Pseudonymizer.for_home(settings.secrets_dir),
            rules_from_catalog(None),
            today=city.config.window_start,
        )
        importer.import_dir(city.root / "registry")
        engine.dispose()
        return cls(city, settings, catalog)

    def ingest_until(self, day: dt.date) -> int:
        engine = make_engine(self.settings.database_url)
        sources = load_sources(None, self.catalog)
        ingestor = Ingestor(
            self.settings, self.catalog, sources, self.city.config.window_end, engine=engine
        )
        count = 0
        for row in self.city.manifest:
            first = row["first_event"]  # empty for a file without records
            if row["file"] in self.ingested or (first and dt.date.fromisoformat(first) > day):
                continue
            ingestor.ingest_file(sources[row["source"]], self.city.root / "feeds" / row["file"])
            self.ingested.add(row["file"])
            count += 1
        engine.dispose()
        return count
