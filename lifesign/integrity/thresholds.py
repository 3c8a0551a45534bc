"""The fraud rules' thresholds: lifesign/integrity/data/rules.yaml (dated, each value explained).

A city replaces the file with `rules.yaml` in its catalog folder; a missing or malformed value
is an error naming the file and the key, never a silent default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lifesign.errors import LifesignError, Location

PACKAGED = Path(__file__).parent / "data" / "rules.yaml"


class ThresholdError(LifesignError):
    """The thresholds file is missing a value or holds a bad one."""


def thresholds_path(catalog_dir: Path | None = None) -> Path:
    """The city's `rules.yaml` beside its catalog if it has one, else the packaged file."""
    if catalog_dir is not None and (catalog_dir / "rules.yaml").is_file():
        return catalog_dir / "rules.yaml"
    return PACKAGED


def _read_yaml(file: Path, what: str) -> Any:
    """The parsed file; a ThresholdError saying `what` cannot be read when it cannot."""
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ThresholdError(
            what=f"{what} cannot be read",
            why=str(error),
            where=Location(str(file)),
        ) from None


def load_thresholds(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """`{rule_code: {name: value}}` from the file (with `effective_from` checked as a date)."""
    file = path or PACKAGED
    data = _read_yaml(file, "the fraud-rule thresholds")
    if not isinstance(data, dict) or not isinstance(data.get("rules"), dict):
        raise ThresholdError(
            what="the fraud-rule thresholds file has no 'rules' mapping",
            where=Location(file=str(file), key="rules"),
        )
    if not isinstance(data.get("effective_from"), dt.date):
        raise ThresholdError(
            what="the fraud-rule thresholds file needs an effective_from date",
            why="every parameter is dated",
            where=Location(file=str(file), key="effective_from"),
        )
    rules: dict[str, dict[str, Any]] = {}
    for code, values in data["rules"].items():
        if not isinstance(values, dict):
            raise ThresholdError(
                what=f"the thresholds of rule {code!r} are not a mapping",
                where=Location(file=str(file), key=f"rules.{code}"),
            )
        rules[str(code)] = dict(values)
    return rules


def require(thresholds: Mapping[str, Mapping[str, Any]], rule: str, name: str) -> Any:
    try:
        return thresholds[rule][name]
    except KeyError:
        raise ThresholdError(
            what=f"rule {rule!r} needs the threshold {name!r}",
            why="add it to rules.yaml with a comment saying why",
            where=Location(file="rules.yaml", key=f"rules.{rule}.{name}"),
        ) from None


SCAN_PARAMETERS = Path(__file__).parent / "data" / "scan.yaml"


@dataclass(frozen=True)
class ScanParameters:
    weak_store_max_parts: int


def load_scan_parameters(path: Path | None = None) -> ScanParameters:
    """The scan's machinery parameters (data/scan.yaml), each checked."""
    file = path or SCAN_PARAMETERS
    data = _read_yaml(file, "the integrity scan's parameters")
    parts = data.get("weak_store_max_parts") if isinstance(data, dict) else None
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ThresholdError(
            what="weak_store_max_parts must be a whole number of at least 1",
            why=f"got {parts!r}",
            where=Location(file=str(file), key="weak_store_max_parts"),
        )
    return ScanParameters(weak_store_max_parts=parts)
