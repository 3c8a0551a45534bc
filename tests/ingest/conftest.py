"""Fixtures shared by the ingestion tests (engineers A, B and C).

`ingest_city`: one small synthetic city (about 1,500 recipients, all 27 feeds), built once per
test session (tests/cities.py: the integrity scan's tests use the same city). Tests must not
modify its files: copy what you need into `tmp_path` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lifesign.catalog import Catalog, load_catalog
from lifesign.synth.city import CityReport
from lifesign.synth.config import SynthConfig
from tests.cities import synthetic_city

CITY_RECIPIENTS = 1500
CITY_SEED = 20241103


@dataclass(frozen=True)
class IngestCity:
    """A built synthetic city: `root` holds registry/, feeds/ (with manifest.csv), truth/."""

    root: Path
    config: SynthConfig
    report: CityReport

    @property
    def feeds(self) -> Path:
        return self.root / "feeds"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def truth(self) -> Path:
        return self.root / "truth"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The packaged catalog."""
    return load_catalog(None)


@pytest.fixture(scope="session")
def ingest_city(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> IngestCity:
    """A ~1,500-recipient city with every feed; read-only for the tests."""
    city = synthetic_city(tmp_path_factory, CITY_RECIPIENTS, CITY_SEED, catalog=catalog)
    return IngestCity(root=city.root, config=city.config, report=city.report)
