"""What the page queries share: the data's date, its version, and the catalog's labels.

The *data date* (`as_of`) is the as-of date of the latest finished daily run, not the wall
clock: "due in 30 days" means 30 days after the day the data describes, which is also what a
replayed city shows. The *data version* changes whenever a run, a decision, a status change
or a batch lands; cached aggregates are keyed by it, so they are recomputed exactly when
something they count may have changed (every part is the maximum of a primary key: O(1)).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import cast

from sqlalchemy import Connection, Table, func, select

from lifesign.catalog import Catalog
from lifesign.certify.models import Decision, StatusEvent
from lifesign.ingest.sources import SourceDefinition, load_sources
from lifesign.lifecycle.models import Run
from lifesign.store.models import Batch

runs_t = cast(Table, Run.__table__)
decisions_t = cast(Table, Decision.__table__)
events_t = cast(Table, StatusEvent.__table__)
batches_t = cast(Table, Batch.__table__)

DataVersion = tuple[int, int, int, int]


def data_version(connection: Connection) -> DataVersion:
    """(latest run, decision, status event, batch): changes when anything counted may have."""
    row = connection.execute(
        select(
            select(func.max(runs_t.c.run_id)).scalar_subquery(),
            select(func.max(decisions_t.c.decision_id)).scalar_subquery(),
            select(func.max(events_t.c.event_id)).scalar_subquery(),
            select(func.max(batches_t.c.batch_id)).scalar_subquery(),
        )
    ).one()
    return (int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))


def data_date(connection: Connection, today: dt.date | None = None) -> dt.date:
    """The as-of date of the latest finished run (else of any run; else `today`)."""
    finished = connection.execute(
        select(func.max(runs_t.c.as_of)).where(runs_t.c.status == "finished")
    ).scalar_one_or_none()
    if finished is None:
        finished = connection.execute(select(func.max(runs_t.c.as_of))).scalar_one_or_none()
    if finished is None:
        return today or dt.date.today()
    if isinstance(finished, str):  # SQLite returns an aggregate of dates as text
        return dt.date.fromisoformat(finished[:10])
    if isinstance(finished, dt.datetime):
        return finished.date()
    return cast(dt.date, finished)


@lru_cache(maxsize=4)
def source_definitions(catalog: Catalog) -> dict[str, SourceDefinition]:
    """The city's evidence sources by code (read once per catalog)."""
    return load_sources(None, catalog)


def source_department(catalog: Catalog, source: str) -> str | None:
    definition = source_definitions(catalog).get(source)
    return definition.department if definition is not None else None


def month_start(day: dt.date, months_back: int = 0) -> dt.date:
    """The first day of the month `months_back` months before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def as_date(value: object) -> dt.date | None:
    """A date column's value (SQLite may give text back from an aggregate or expression)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
