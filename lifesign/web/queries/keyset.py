"""Keyset pagination for the work lists (reviews, cases, quarantine, exports).

A list is ordered by its primary key, newest first; the next page starts strictly below the
last id shown (`before`). Unlike OFFSET, a page costs the same however deep it is: the
database seeks the primary-key index to `before` and reads `size` rows — which keeps the lists
fast when the quarantine holds millions of rejected records.

    query = newest_first(select(...).where(...), table.c.id, before, size)
    rows = [Shown(...) for r in connection.execute(query)]
    page = page_of(rows, lambda row: row.id, total, size, before)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select

Row = TypeVar("Row")
Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])

# The page sizes a list accepts: a phone shows 20 comfortably, a desk 100.
PAGE_SIZES = (20, 50, 100)
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a list: its rows, the total matching the filter, and where the next page
    starts (None on the last page)."""

    rows: Sequence[Row]
    total: int
    size: int
    before: int | None  # the cursor this page was read with (None: the first page)
    next_before: int | None


def page_size(requested: int | None) -> int:
    """The requested size if it is one of PAGE_SIZES, else the default."""
    return requested if requested in PAGE_SIZES else DEFAULT_PAGE_SIZE


def cut(rows: Sequence[Row], ids: Sequence[int], size: int) -> tuple[Sequence[Row], int | None]:
    """Rows were read with LIMIT size + 1: keep `size` and say where the next page starts."""
    if len(rows) > size:
        return rows[:size], ids[size - 1]
    return rows, None


def newest_first(query: Query, key: ColumnElement[Any], before: int | None, size: int) -> Query:
    """`query` read newest first by its primary key `key`, strictly below `before`, one row
    more than the page (`page_of` tells from it whether there is a next page)."""
    if before is not None:
        query = query.where(key < before)
    return query.order_by(key.desc()).limit(size + 1)


def page_of(
    rows: Sequence[Row], key: Callable[[Row], int], total: int, size: int, before: int | None
) -> Page[Row]:
    """The page of `rows` read by `newest_first` (`key`: a row's id)."""
    kept, next_before = cut(rows, [key(row) for row in rows], size)
    return Page(rows=kept, total=total, size=size, before=before, next_before=next_before)
