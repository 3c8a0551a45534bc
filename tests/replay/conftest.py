"""Fixtures of the replay tests: one small city, replayed once per session.

`replay_city`: 800 recipients, seed 1 — a seed whose city holds two 冒领 (dead, unrecorded,
still paid) who died in the window's first month, so a scan at its end must flag them.
`replayed`: that city replayed from 2026-09-24 to 2026-10-03 (the 22 months before are
history), through the `lifesign replay` command. Tests must not modify either: copy first.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from lifesign.catalog import load_catalog
from lifesign.cli import cli
from lifesign.config import Settings, load_settings
from lifesign.synth.city import build_city
from lifesign.synth.config import SynthConfig

CITY_RECIPIENTS = 800
CITY_SEED = 1
REPLAY_FIRST = dt.date(2026, 9, 24)
REPLAY_LAST = dt.date(2026, 10, 3)


@dataclass(frozen=True)
class ReplayedHome:
    city: Path
    settings: Settings
    first: dt.date
    last: dt.date
    output: str


@pytest.fixture(scope="session")
def replay_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay-city")
    config = SynthConfig(recipients=CITY_RECIPIENTS, seed=CITY_SEED, out=root, workers=1)
    build_city(config, load_catalog(None))
    return root


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory, replay_city: Path) -> ReplayedHome:
    home = tmp_path_factory.mktemp("replayed-home")
    os.environ.setdefault("LIFESIGN_LAKE_FSYNC", "0")
    result = CliRunner().invoke(
        cli,
        [
            "--home",
            str(home),
            "replay",
            "--city",
            str(replay_city),
            "--from",
            REPLAY_FIRST.isoformat(),
            "--to",
            REPLAY_LAST.isoformat(),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")
    return ReplayedHome(replay_city, settings, REPLAY_FIRST, REPLAY_LAST, result.output)
