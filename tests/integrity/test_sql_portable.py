"""The integrity rules' SQL stays portable to Spark (DESIGN.md, decision 3).

Date arithmetic is written with the functions Spark has (DATE_ADD(date, days), ADD_MONTHS),
ADD_MONTHS being a DuckDB macro with Spark's end-of-month rule; every query transpiles with
sqlglot without an unsupported construct.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest

from lifesign.integrity import builtin_rules, context

# DuckDB features with no Spark equivalent (or a different meaning there).
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
    "TO_DAYS",
    "INTERVAL",
)


def queries() -> dict[str, str]:
    """Every query the built-in rules and the scan's context run, placeholders filled."""
    found = {
        rule.code: str(getattr(rule, "SQL"))  # noqa: B009 — not every rule has SQL
        for rule in builtin_rules.BUILTIN_RULES
        if hasattr(rule, "SQL")
    }
    found["overlaps"] = "WITH " + builtin_rules.OVERLAPS.format(same="a.program = b.program")
    found["weak_records"] = builtin_rules.WEAK_RECORDS
    found["weak_counts"] = builtin_rules.WEAK_COUNTS
    found["facts"] = context.FACTS_SQL.format(
        records="evidence", end=context.end_literal(dt.date(2026, 10, 31))
    )
    return found


@pytest.mark.parametrize("name", sorted(queries()))
def test_no_duckdb_only_constructs(name: str) -> None:
    text = re.sub(r"--[^\n]*", "", queries()[name]).upper()
    for construct in DUCKDB_ONLY:
        assert construct not in text, f"{name}: {construct}"


@pytest.mark.parametrize("name", sorted(queries()))
def test_transpiles_to_spark(name: str) -> None:
    sqlglot = pytest.importorskip("sqlglot")
    (spark,) = sqlglot.transpile(
        queries()[name], read="duckdb", write="spark", unsupported_level="raise"
    )
    assert "QUALIFY" not in spark.upper()


def test_date_arithmetic_is_spark_s() -> None:
    sqlglot = pytest.importorskip("sqlglot")
    rule = builtin_rules.PaymentsWithoutStrongEvidence()
    (spark,) = sqlglot.transpile(rule.SQL, read="duckdb", write="spark")
    assert "ADD_MONTHS(A.ANCHOR, CAST(A.PERIOD_MONTHS + ? AS INT))" in spark.upper()
    death = builtin_rules.WeakActivityAfterDeath()
    (spark,) = sqlglot.transpile(death.SQL, read="duckdb", write="spark")
    assert "DATE_ADD(D.DEATH_DATE, CAST(? AS INT))" in spark.upper()


def test_add_months_macro_has_spark_s_end_of_month_rule() -> None:
    duck = duckdb.connect()
    duck.execute(context.ADD_MONTHS_MACRO)
    got = duck.execute(
        "SELECT add_months(DATE '2025-01-31', 1), add_months(DATE '2024-02-29', 12), "
        "add_months(DATE '2025-10-15', 13), DATE_ADD(DATE '2025-12-31', 1)"
    ).fetchone()
    assert got == (
        dt.date(2025, 2, 28),
        dt.date(2025, 2, 28),
        dt.date(2026, 11, 15),
        dt.date(2026, 1, 1),
    )
