"""The pass's SQL stays portable to Spark (DESIGN.md, decision 3): every file of
lifesign/certify/sql is checked, and transpiled by sqlglot from DuckDB's dialect to Spark's."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from lifesign.certify.summary import PASS_SQL, refs_sql, summary_sql, year_firsts

# DuckDB features with no Spark equivalent (arg_max/max_by are fine: Spark has max_by).
DUCKDB_ONLY = (
    "QUALIFY",
    "LIST(",
    "STRUCT_PACK",
    "EPOCH(",
    "STRFTIME",
    "::",
    "EXCLUDE",
    "ASOF",
    "TO_MONTHS",
    "INTERVAL",
    "JSON",
)
# Placeholders the Python code fills in (literals only).
PLACEHOLDERS = {
    "records": "evidence",
    "as_of_end": "TIMESTAMP '2025-07-01 00:00:00'",
    "lower_bound": "e.event_time >= TIMESTAMP '2025-06-01 00:00:00'",
    "as_of": "DATE '2025-06-30'",
    "window_start": "TIMESTAMP '2024-11-01 00:00:00'",
    "window_end": "TIMESTAMP '2026-01-01 00:00:00'",
    "year_firsts": year_firsts([2024, 2025]),
}


def test_every_pass_file_is_checked() -> None:
    assert {
        "summary.sql", "rare.sql", "anchored.sql", "wanted.sql", "wanted_candidates.sql",
        "moments.sql", "refs.sql", "found.sql", "candidates.sql",
        "merge.sql",
        "facts.sql", "certified.sql", "state.sql",
    } <= set(PASS_SQL)  # fmt: skip


@pytest.mark.parametrize("name", sorted(PASS_SQL))
def test_no_duckdb_only_constructs(name: str) -> None:
    text = re.sub(r"--[^\n]*", "", PASS_SQL[name]).upper()
    for construct in DUCKDB_ONLY:
        assert construct not in text, (name, construct)


@pytest.mark.parametrize("name", sorted(PASS_SQL))
def test_transpiles_to_spark(name: str) -> None:
    sqlglot = pytest.importorskip("sqlglot")
    query = PASS_SQL[name].format(**PLACEHOLDERS)
    (spark,) = sqlglot.transpile(query, read="duckdb", write="spark", unsupported_level="raise")
    assert "QUALIFY" not in spark.upper()
    if "FILTER (WHERE" in query:
        assert "FILTER(WHERE" in spark.replace(" (", "(")
    if "add_months(" in query:  # Spark's own add_months (DuckDB gets a macro of the same rule)
        assert "ADD_MONTHS(" in spark.upper()


def test_the_bounds_are_literals() -> None:
    """A literal lower bound lets Parquet skip row groups (a subquery is not pushed down)."""
    for sql in (
        summary_sql("evidence", dt.date(2025, 6, 30), dt.date(2025, 5, 31)),
        refs_sql("evidence", dt.date(2025, 6, 30), dt.date(2025, 5, 31)),
    ):
        assert "e.event_time < TIMESTAMP '2025-07-01 00:00:00'" in sql
        assert "e.event_time >= TIMESTAMP '2025-06-01 00:00:00'" in sql
