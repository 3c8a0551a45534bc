"""When each feed file of a synthetic city reaches the platform during a replay.

A department sends a file once the period it covers is over: a daily file the next day, a
monthly file on the first day of the next month, plus a per-source delay (data/release.yaml).
`plan_releases` reads the city's `feeds/manifest.csv` and gives every file its release day;
`release_into` puts the files of one day into the drop folder, the way an upload would (a
`.part` name first, renamed when complete, so the watcher never takes half a file).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lifesign.errors import LifesignError, Location

MANIFEST = "manifest.csv"


class ReplayInputError(LifesignError):
    """A synthetic city folder that cannot be replayed."""


@dataclass(frozen=True)
class Release:
    """One feed file and the day it reaches the drop folder."""

    day: dt.date
    source: str
    path: Path  # absolute path of the file in the city's feeds folder
    records: int


@dataclass(frozen=True)
class ReleaseDelays:
    default_days: int
    by_source: Mapping[str, int]

    def of(self, source: str) -> int:
        return self.by_source.get(source, self.default_days)


def load_delays(path: Path | None = None) -> ReleaseDelays:
    """The per-source delays (the packaged data/release.yaml unless `path` is given)."""
    if path is None:
        text = resources.files("lifesign.replay").joinpath("data/release.yaml").read_text("utf-8")
        where = "lifesign/replay/data/release.yaml"
    else:
        text = path.read_text("utf-8")
        where = str(path)
    raw: Any = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise ReplayInputError("release delays unreadable", "not a mapping", Location(file=where))
    by_source = raw.get("delay_days") or {}
    for source, days in by_source.items():
        if not isinstance(days, int) or days < 0:
            raise ReplayInputError(
                "bad release delay",
                f"delay of {source!r} must be a whole number of days ≥ 0, not {days!r}",
                Location(file=where, field=str(source)),
            )
    return ReleaseDelays(int(raw.get("default_delay_days", 0)), dict(by_source))


def _period_patterns() -> dict[str, tuple[str, re.Pattern[str]]]:
    """source → (period, regex capturing the period key in the file's name)."""
    from lifesign.synth.feeds.shapes import load_shapes

    patterns: dict[str, tuple[str, re.Pattern[str]]] = {}
    for shape in load_shapes():
        token = "{yyyymmdd}" if shape.period == "daily" else "{yyyymm}"
        digits = 8 if shape.period == "daily" else 6
        before, after = shape.file.split(token, 1)
        regex = re.compile(re.escape(before) + rf"(\d{{{digits}}})" + re.escape(after) + "$")
        patterns[shape.source] = (shape.period, regex)
    return patterns


def period_end(period: str, key: str) -> dt.date:
    """The last day of the period a file covers, from its key (YYYYMMDD or YYYYMM)."""
    if period == "daily":
        return dt.date(int(key[:4]), int(key[4:6]), int(key[6:8]))
    first = dt.date(int(key[:4]), int(key[4:6]), 1)
    return first_of_next_month(first) - dt.timedelta(days=1)


def first_of_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def plan_releases(feeds_dir: Path, delays: ReleaseDelays | None = None) -> list[Release]:
    """Every file of `feeds_dir/manifest.csv` with its release day, in release order.

    The period of a file comes from its name (the synthetic city's feed shapes); a file whose
    source has no shape is released the day after its `last_event`.
    """
    delays = delays or load_delays()
    manifest = feeds_dir / MANIFEST
    if not manifest.is_file():
        raise ReplayInputError(
            "no feed manifest",
            "a replay needs a synthetic city made by `lifesign synth` (with its feeds)",
            Location(file=str(manifest)),
        )
    patterns = _period_patterns()
    releases: list[Release] = []
    with manifest.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            source, name = row["source"], row["file"]
            end = _end_of(patterns.get(source), name, row.get("last_event") or "")
            if end is None:
                raise ReplayInputError(
                    "a manifest row has no period",
                    "neither its file name nor its last_event gives the period it covers",
                    Location(file=str(manifest), line=line),
                )
            day = end + dt.timedelta(days=1 + delays.of(source))
            releases.append(Release(day, source, feeds_dir / name, int(row["records"] or 0)))
    releases.sort(key=lambda release: (release.day, release.source, release.path.name))
    return releases


def _end_of(
    pattern: tuple[str, re.Pattern[str]] | None, name: str, last_event: str
) -> dt.date | None:
    if pattern is not None:
        period, regex = pattern
        match = regex.search(name)
        if match:
            return period_end(period, match.group(1))
    return dt.date.fromisoformat(last_event) if last_event else None


def releases_between(
    releases: Iterable[Release], first: dt.date | None, last: dt.date
) -> list[Release]:
    """The releases whose day is in [first, last] (from the beginning if `first` is None)."""
    return [r for r in releases if (first is None or r.day >= first) and r.day <= last]


def release_into(inbox: Path, releases: Iterable[Release]) -> list[Path]:
    """Put the files into the drop folder: hard-linked (copied across file systems) under a
    `.part` name, then renamed, so a watcher sees only complete files. A file already there,
    or already taken by the watcher on an earlier run, is put there again only if missing
    from both (the ingestion is idempotent by file hash anyway)."""
    inbox.mkdir(parents=True, exist_ok=True)
    placed: list[Path] = []
    for release in releases:
        target = inbox / release.path.name
        if target.exists():
            continue
        partial = target.with_name(target.name + ".part")
        partial.unlink(missing_ok=True)
        try:
            os.link(release.path, partial)
        except OSError:
            shutil.copyfile(release.path, partial)
        os.replace(partial, target)
        placed.append(target)
    return placed
