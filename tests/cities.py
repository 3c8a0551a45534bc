"""Synthetic cities for the tests: each (size, seed, with feeds or not) built once per test
process and shared read-only.

Building a city is one of the suite's biggest costs (a 1,500-recipient city with every feed
takes ~15 s on a busy 2-core machine), and packages' tests ask for the same city: the ingestion
tests and the integrity scan both use 1,500 recipients with seed 20241103. A test must not
modify a shared city's files: copy what it changes into its own tmp_path first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lifesign.catalog import Catalog, load_catalog
from lifesign.synth.city import CityReport, build_city
from lifesign.synth.config import SynthConfig


@dataclass(frozen=True)
class BuiltCity:
    """A built synthetic city: `root` holds registry/, feeds/ (with manifest.csv), truth/."""

    root: Path
    config: SynthConfig
    report: CityReport


_built: dict[tuple[int, int, bool], BuiltCity] = {}


def synthetic_city(
    factory: pytest.TempPathFactory,
    recipients: int,
    seed: int,
    *,
    feeds: bool = True,
    catalog: Catalog | None = None,
) -> BuiltCity:
    """The city of `recipients` and `seed` (one worker: the same bytes on every machine),
    built on first use in this test process."""
    key = (recipients, seed, feeds)
    if key not in _built:
        root = factory.mktemp(f"city-{recipients}-{seed}")
        config = SynthConfig(recipients=recipients, seed=seed, out=root, workers=1)
        report = build_city(config, catalog or load_catalog(None), feeds=feeds)
        _built[key] = BuiltCity(root, config, report)
    return _built[key]
