"""Helpers to break one thing in a copy of the catalog and find the problem reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifesign.catalog import CatalogError, CatalogProblem, load_catalog


def edit(path: Path, old: str, new: str, *, within: str | None = None) -> None:
    """Replace exactly one `old` by `new` in `path` (inside the block that starts at `within`)."""
    text = path.read_text(encoding="utf-8")
    start = 0
    end = len(text)
    if within is not None:
        start = text.index(within)
        following = text.find("\n  - code: ", start + len(within))
        end = following if following != -1 else len(text)
    block = text[start:end]
    assert block.count(old) == 1, f"{old!r} occurs {block.count(old)} times"
    path.write_text(text[:start] + block.replace(old, new) + text[end:], encoding="utf-8")


def problems_of(directory: Path) -> list[CatalogProblem]:
    with pytest.raises(CatalogError) as raised:
        load_catalog(directory)
    assert raised.value.problems
    return list(raised.value.problems)


def only(problems: list[CatalogProblem], key: str) -> CatalogProblem:
    found = [p for p in problems if p.key == key]
    assert found, f"no problem at {key}; got: " + "; ".join(str(p) for p in problems)
    return found[0]
