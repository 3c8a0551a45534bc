"""Small synthetic cities shared by the synth tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifesign.catalog import Catalog, load_catalog
from lifesign.synth.city import CityReport, build_city
from lifesign.synth.config import SynthConfig

SMALL_RECIPIENTS = 3000
SMALL_SEED = 20241101


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(None)


@pytest.fixture(scope="session")
def small_city(
    tmp_path_factory: pytest.TempPathFactory, catalog: Catalog
) -> tuple[SynthConfig, CityReport]:
    """A 3,000-recipient city: registry and truth (the feeds have their own tests)."""
    out: Path = tmp_path_factory.mktemp("city")
    config = SynthConfig(recipients=SMALL_RECIPIENTS, seed=SMALL_SEED, out=out, workers=1)
    return config, build_city(config, catalog, feeds=False)
