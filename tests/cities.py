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
from lifesign.config import Settings, load_settings
from lifesign.synth.city import CityReport, build_city
from lifesign.synth.config import SynthConfig
from lifesign.web.auth import Principal


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


def replayed_home(
    root: Path, *, recipients: int, seed: int, history_days: int, replay_days: int
) -> Settings:
    """A home on SQLite in `root`/home for a city of `recipients` and `seed` (built in
    `root`/city): its registry imported, the first `history_days` of its window loaded as
    history, then `replay_days` replayed day by day (`lifesign replay`), and the demo accounts
    (one per role) created."""
    import datetime as dt
    import os

    from lifesign.replay.runner import Replay, default_period
    from lifesign.replay.truth import read_window
    from lifesign.store import open_database
    from lifesign.web.demo_accounts import create_demo_accounts

    os.environ.setdefault("LIFESIGN_LAKE_FSYNC", "0")  # a throwaway home: no power loss
    catalog = load_catalog(None)
    city = root / "city"
    build_city(SynthConfig(recipients=recipients, seed=seed, out=city, workers=1), catalog)
    home = root / "home"
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")
    settings.ensure_home()
    window = read_window(city)
    first = window.start + dt.timedelta(days=history_days)
    period = default_period(window, first, first + dt.timedelta(days=replay_days - 1))
    Replay(settings, city, period, catalog=catalog).run()
    engine = open_database(settings)
    try:
        create_demo_accounts(engine, catalog)
    finally:
        engine.dispose()
    return settings


def department_principal(name: str, department: str = "hrss") -> Principal:
    """The principal of a department's API token: no scope, so the batch status answers it
    from the read model (the tests compare that answer with the join's)."""
    return Principal(
        user_id=None,
        username=f"api:{department}/{name}",
        role="department",
        programs=frozenset(),
        sources=frozenset(),
        grids=frozenset(),
        department=department,
        lang="en",
    )
