"""The pass's SQL stays portable to Spark (DESIGN.md, decision 3)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from lifesign.certify.summary import SUMMARY_SQL, summary_sql

# DuckDB features with no Spark equivalent (arg_max/max_by are fine: Spark has max_by).
DUCKDB_ONLY = ("QUALIFY", "LIST(", "STRUCT_PACK", "EPOCH(", "STRFTIME", "::", "EXCLUDE", "ASOF")


def test_no_duckdb_only_constructs() -> None:
    text = re.sub(r"--[^\n]*", "", SUMMARY_SQL).upper()
    for construct in DUCKDB_ONLY:
        assert construct not in text, construct


def test_transpiles_to_spark() -> None:
    sqlglot = pytest.importorskip("sqlglot")
    query = summary_sql("evidence", dt.date(2025, 6, 30), dt.date(2025, 5, 31))
    (spark,) = sqlglot.transpile(query, read="duckdb", write="spark", unsupported_level="raise")
    assert "FILTER(WHERE" in spark.replace(" (", "(") or "FILTER (WHERE" in spark
    assert "QUALIFY" not in spark.upper()
