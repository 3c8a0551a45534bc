"""The parameters of the overview, sources, worklist and person pages, read from
`lifesign/web/data/pages.yaml` (each value's why is written there) and checked on load."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from lifesign.errors import ConfigurationError, Location

PAGES_YAML = Path(__file__).parent.parent / "data" / "pages.yaml"


@dataclass(frozen=True)
class OverviewParameters:
    due_horizons_days: tuple[int, ...]
    trend_months: int
    cache_entries: int
    refresh_seconds: int
    inline_below_persons: int


@dataclass(frozen=True)
class SourcesParameters:
    chart_days: int
    reject_window_days: int
    top_reasons: int


@dataclass(frozen=True)
class WorklistParameters:
    expiring_within_days: int
    page_size: int
    reminders_per_person: int


@dataclass(frozen=True)
class PersonParameters:
    timeline_limit: int
    decisions_limit: int
    messages_limit: int
    payments_limit: int
    search_limit: int


@dataclass(frozen=True)
class PageParameters:
    overview: OverviewParameters
    sources: SourcesParameters
    worklist: WorklistParameters
    person: PersonParameters


def _positive(data: dict[str, Any], section: str, key: str) -> int:
    where = Location(file=str(PAGES_YAML), key=f"{section}.{key}")
    try:
        value = data[section][key]
    except (KeyError, TypeError):
        raise ConfigurationError("a page parameter is missing", "", where) from None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigurationError(
            "a page parameter must be a positive whole number", repr(value), where
        )
    return value


def _horizons(data: dict[str, Any]) -> tuple[int, ...]:
    where = Location(file=str(PAGES_YAML), key="overview.due_horizons_days")
    value = (data.get("overview") or {}).get("due_horizons_days")
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ConfigurationError(
            "due horizons must be a list of positive day counts", repr(value), where
        )
    return tuple(sorted(set(value)))


def parse_page_parameters(data: dict[str, Any]) -> PageParameters:
    return PageParameters(
        overview=OverviewParameters(
            due_horizons_days=_horizons(data),
            trend_months=_positive(data, "overview", "trend_months"),
            cache_entries=_positive(data, "overview", "cache_entries"),
            refresh_seconds=_positive(data, "overview", "refresh_seconds"),
            inline_below_persons=_positive(data, "overview", "inline_below_persons"),
        ),
        sources=SourcesParameters(
            chart_days=_positive(data, "sources", "chart_days"),
            reject_window_days=_positive(data, "sources", "reject_window_days"),
            top_reasons=_positive(data, "sources", "top_reasons"),
        ),
        worklist=WorklistParameters(
            expiring_within_days=_positive(data, "worklist", "expiring_within_days"),
            page_size=_positive(data, "worklist", "page_size"),
            reminders_per_person=_positive(data, "worklist", "reminders_per_person"),
        ),
        person=PersonParameters(
            timeline_limit=_positive(data, "person", "timeline_limit"),
            decisions_limit=_positive(data, "person", "decisions_limit"),
            messages_limit=_positive(data, "person", "messages_limit"),
            payments_limit=_positive(data, "person", "payments_limit"),
            search_limit=_positive(data, "person", "search_limit"),
        ),
    )


@lru_cache(maxsize=1)
def page_parameters() -> PageParameters:
    try:
        data = yaml.safe_load(PAGES_YAML.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigurationError(
            "cannot read the page parameters", str(error), Location(file=str(PAGES_YAML))
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            "the page parameters must be a mapping", "", Location(file=str(PAGES_YAML))
        )
    return parse_page_parameters(data)
