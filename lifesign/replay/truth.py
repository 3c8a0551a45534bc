"""The synthetic city's answer key, as the replay and the score need it.

Only two things read it: the simulation of the real-world actors (a person who certifies by
face, a community worker who finds a person alive or dead) and the score. The platform's own
code never does.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lifesign.errors import Location
from lifesign.replay.release import ReplayInputError


@dataclass(frozen=True)
class CityWindow:
    """The months a city's registry, ledger and feeds cover (`end` is inclusive)."""

    start: dt.date
    end: dt.date
    recipients: int
    seed: int


@dataclass(frozen=True)
class TruePerson:
    """What really happened to one person of the synthetic city."""

    id_number: str
    is_recipient: bool
    death_date: dt.date | None
    death_recorded: bool
    maoling: bool
    imprisoned_on: dt.date | None
    emigrated_on: dt.date | None

    def dead_on(self, day: dt.date) -> bool:
        return self.death_date is not None and self.death_date <= day

    def emigrated_by(self, day: dt.date) -> bool:
        return self.emigrated_on is not None and self.emigrated_on <= day

    def imprisoned_by(self, day: dt.date) -> bool:
        return self.imprisoned_on is not None and self.imprisoned_on <= day


@dataclass(frozen=True)
class IntegrityCase:
    """A planted integrity case (truth/integrity_cases.csv)."""

    case_type: str
    id_number: str
    programs: tuple[str, ...]
    enrollment_refs: tuple[str, ...]
    details: str


def read_window(city: Path) -> CityWindow:
    """The window of a city, from `truth/summary.json` (falls back to the ledger's months)."""
    summary = city / "truth" / "summary.json"
    if not summary.is_file():
        raise ReplayInputError(
            "no truth summary",
            "the folder is not a synthetic city made by `lifesign synth`",
            Location(file=str(summary)),
        )
    document = json.loads(summary.read_text("utf-8"))
    return CityWindow(
        start=dt.date.fromisoformat(document["window_start"]),
        end=dt.date.fromisoformat(document["window_end"]),
        recipients=int(document.get("recipients", 0)),
        seed=int(document.get("seed", 0)),
    )


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def read_people(truth_dir: Path, *, recipients_only: bool = True) -> dict[str, TruePerson]:
    """truth/people.csv by ID number (recipients only unless told otherwise)."""
    path = truth_dir / "people.csv"
    if not path.is_file():
        raise ReplayInputError(
            "no ground truth", "truth/people.csv is missing", Location(file=str(path))
        )
    people: dict[str, TruePerson] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            is_recipient = row["is_recipient"] == "true"
            if recipients_only and not is_recipient:
                continue
            people[row["id_number"]] = TruePerson(
                id_number=row["id_number"],
                is_recipient=is_recipient,
                death_date=_date(row["death_date"]),
                death_recorded=row["death_recorded"] == "true",
                maoling=row["maoling"] == "true",
                imprisoned_on=_date(row["imprisoned_on"]),
                emigrated_on=_date(row["emigrated_on"]),
            )
    return people


def read_integrity_cases(truth_dir: Path) -> Iterator[IntegrityCase]:
    path = truth_dir / "integrity_cases.csv"
    if not path.is_file():
        return
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield IntegrityCase(
                case_type=row["case_type"],
                id_number=row["id_number"],
                programs=tuple(p for p in row["programs"].split(";") if p),
                enrollment_refs=tuple(e for e in row["enrollment_ids"].split(";") if e),
                details=row["details"],
            )
