"""The certification rules' parameters (data/rules.yaml) and their stable rule ids.

A rule id is what a decision names in its `rule` column: stable across releases, readable by
an auditor, documented in docs/certification.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from lifesign.errors import LifesignError, Location

RULES_FILE = Path(__file__).parent / "data" / "rules.yaml"


class Rule:
    """Stable ids of the rules the pass (and the review queue) apply."""

    STRONG_ALIVE_CERTIFIES = "strong_alive_certifies"
    DEATH_RECORD = "death_record"
    DEATH_TERMINATES = "death_terminates"
    STATUS_RECORD = "status_record"  # imprisoned / emigrated / moved_away on the person
    STATUS_ACTION = "status_action"  # the catalog's on_status: suspend or terminate a benefit
    DEATH_DATES_FAR_APART = "death_dates_far_apart"
    DEATH_BUT_ALIVE_LATER = "death_record_but_alive_later"
    ALIVE_AFTER_DEATH = "alive_after_recorded_death"
    REVIEW_RESOLVED = "review_resolved"


@dataclass(frozen=True)
class PassEngine:
    """How the pass runs DuckDB (not a rule: how much of the machine it may take)."""

    threads: int  # 0: one per core
    memory_limit_mib: int
    sqlite_cache_mib: int  # the full pass
    sqlite_cache_mib_incremental: int  # the incremental pass
    # a load of at least this % of a table's rows rebuilds its secondary indexes after it
    index_rebuild_percent: int = 100
    # the scan's group-by per person as an array (DuckDB's perfect_ht_threshold, in bits), only
    # for a part of at least this many records per person of the id range (rules.yaml: why)
    perfect_hash_bits: int = 21
    perfect_hash_records_per_person: int = 8


@dataclass(frozen=True)
class RuleParameters:
    death_dates_far_apart_days: int
    alive_after_death_tolerance_days: int
    fallback_certification_period_months: int
    engine: PassEngine = PassEngine(
        threads=0, memory_limit_mib=2048, sqlite_cache_mib=256, sqlite_cache_mib_incremental=1024
    )

    @property
    def death_spread(self) -> dt.timedelta:
        return dt.timedelta(days=self.death_dates_far_apart_days)

    @property
    def alive_tolerance(self) -> dt.timedelta:
        return dt.timedelta(days=self.alive_after_death_tolerance_days)


def _positive_int(data: dict[str, Any], key: str, path: Path, minimum: int = 0) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise LifesignError(
            f"{key} must be an integer ≥ {minimum}",
            f"found {value!r}",
            Location(file=str(path), key=key),
        )
    return value


def load_rule_parameters(path: Path = RULES_FILE) -> RuleParameters:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise LifesignError("the rules file is not a mapping", where=Location(file=str(path)))
    known = set(RuleParameters.__dataclass_fields__) - {"engine"} | {"pass_engine"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise LifesignError(
            f"unknown key(s) {', '.join(unknown)}",
            f"the known keys are {', '.join(sorted(known))}",
            Location(file=str(path), key=unknown[0]),
        )
    return RuleParameters(
        death_dates_far_apart_days=_positive_int(data, "death_dates_far_apart_days", path, 1),
        alive_after_death_tolerance_days=_positive_int(
            data, "alive_after_death_tolerance_days", path
        ),
        fallback_certification_period_months=_positive_int(
            data, "fallback_certification_period_months", path, 1
        ),
        engine=_pass_engine(data.get("pass_engine"), path),
    )


def _pass_engine(data: Any, path: Path) -> PassEngine:
    if not isinstance(data, dict) or set(data) != {
        "threads",
        "memory_limit_mib",
        "sqlite_cache_mib",
        "sqlite_cache_mib_incremental",
        "index_rebuild_percent",
        "perfect_hash_bits",
        "perfect_hash_records_per_person",
    }:
        raise LifesignError(
            "pass_engine must be a mapping of threads, memory_limit_mib, sqlite_cache_mib, "
            "sqlite_cache_mib_incremental, index_rebuild_percent, perfect_hash_bits and "
            "perfect_hash_records_per_person",
            f"found {data!r}",
            Location(file=str(path), key="pass_engine"),
        )
    return PassEngine(
        threads=_positive_int(data, "threads", path),
        memory_limit_mib=_positive_int(data, "memory_limit_mib", path, 256),
        sqlite_cache_mib=_positive_int(data, "sqlite_cache_mib", path),
        sqlite_cache_mib_incremental=_positive_int(data, "sqlite_cache_mib_incremental", path),
        index_rebuild_percent=_positive_int(data, "index_rebuild_percent", path),
        perfect_hash_bits=_positive_int(data, "perfect_hash_bits", path),
        perfect_hash_records_per_person=_positive_int(
            data, "perfect_hash_records_per_person", path, 1
        ),
    )


@cache
def rule_parameters() -> RuleParameters:
    """The packaged parameters (read once)."""
    return load_rule_parameters()


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus `months` calendar months; the 31st becomes the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")
