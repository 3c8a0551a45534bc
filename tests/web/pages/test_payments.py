"""Payment lists (/payments) and exports (/exports): the officer's programs only, counts by
status, masked IDs on the page; CSV / XLSX exports through lifesign.payments (the files of
`lifesign payments list`), full IDs only with export_full_id, each export in the `exports`
table and the audit log."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, select

from lifesign.catalog import load_catalog
from lifesign.integrity.models import Export
from lifesign.payments.export import COLUMNS, headers
from lifesign.payments.lines import payment_list, totals_by_status
from lifesign.registry.ids import mask_id_number
from lifesign.web.auth import Principal
from lifesign.web.queries.payments import (
    default_month,
    export_log,
    payment_preview,
    visible_programs,
)
from tests.web.pages.work_support import audit_rows, engine_of, principal_of

Client = Callable[[str], Any]
ID_COLUMN = [key for key, _, _ in COLUMNS].index("id_number")


@pytest.fixture
def city(web_home: Any) -> dict[str, Any]:
    engine = engine_of(web_home)
    officer = principal_of(engine, "officer")
    catalog = load_catalog(None)
    with engine.connect() as conn:
        month = default_month(conn)
    program = sorted(officer.programs)[0]
    other = next(code for code in catalog.programs if code not in officer.programs)
    lines = payment_list(engine, catalog, program, month)
    assert lines, f"no payment line for {program} {month}"
    return {
        "engine": engine,
        "catalog": catalog,
        "program": program,
        "other": other,
        "month": month,
        "lines": lines,
    }


def _exports(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(Export).order_by(Export.export_id)).mappings())


def test_the_page_counts_by_status_with_masked_ids(
    city: dict[str, Any], home_client: Client
) -> None:
    page = home_client("officer").get(f"/payments?program={city['program']}&month={city['month']}")
    assert page.status_code == 200
    figures = dict(
        re.findall(
            r'class="figure status-(\w+)[^"]*"[^>]*>\s*<div class="label">[^<]*</div>\s*'
            r'<div class="value">([\d,]+)</div>',
            page.text,
        )
    )
    assert figures == {t.status: f"{t.lines:,}" for t in totals_by_status(city["lines"])}
    shown = city["lines"][:50]
    for line in shown:
        assert line.external_ref in page.text
        assert line.id_number not in page.text
        assert mask_id_number(line.id_number) in page.text
    assert "正常发放" in page.text and "暂停发放" in page.text
    viewed = audit_rows(city["engine"], "view_payment_list")[-1]
    assert viewed["details"]["program"] == city["program"]
    assert len(viewed["details"]["people"]) == len(shown)


def test_a_status_tab_lists_that_status_only(city: dict[str, Any], home_client: Client) -> None:
    suspended = [line for line in city["lines"] if line.status == "suspended"]
    others = [line for line in city["lines"] if line.status != "suspended"]
    page = home_client("officer").get(
        f"/payments?program={city['program']}&month={city['month']}&status=suspended"
    )
    assert page.status_code == 200
    for line in suspended[:50]:
        assert line.external_ref in page.text
    for line in others:
        assert f">{line.external_ref}<" not in page.text


def test_another_programs_list_is_not_found(city: dict[str, Any], home_client: Client) -> None:
    officer = home_client("officer")
    assert officer.get(f"/payments?program={city['other']}").status_code == 404
    answer = officer.post_form(
        "/payments/export", {"program": city["other"], "month": city["month"], "format": "csv"}
    )
    assert answer.status_code == 404
    assert _exports(city["engine"]) == []


@pytest.mark.parametrize("role", ["datamgr", "worker"])
def test_roles_without_payment_lists_are_refused(client: Client, role: str) -> None:
    assert client(role).get("/payments").status_code == 403
    assert client(role).get("/exports").status_code == 403


def test_csv_export_is_the_cli_file_masked_and_audited(
    city: dict[str, Any], home_client: Client
) -> None:
    answer = home_client("officer").post_form(
        "/payments/export",
        {"program": city["program"], "month": city["month"], "format": "csv", "lang": "zh"},
    )
    assert answer.status_code == 200, answer.text[:400]
    assert answer.headers["content-type"].startswith("text/csv")
    assert f"{city['program']}-{city['month']}.csv" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads Chinese
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == headers("zh")
    body = rows[1 : 1 + len(city["lines"])]
    assert [r[0] for r in body] == [line.external_ref for line in city["lines"]]
    assert [r[ID_COLUMN] for r in body] == [line.masked_id_number for line in city["lines"]]
    assert rows[1 + len(city["lines"])] == []  # then the totals
    recorded = _exports(city["engine"])
    assert [(e["program"], e["period"], e["full_id"], e["rows"], e["exported_by"])
            for e in recorded] == [
        (city["program"], city["month"], False, len(city["lines"]), "officer")
    ]  # fmt: skip
    audited = audit_rows(city["engine"], "export_payments")[-1]
    assert audited["details"]["export_id"] == recorded[0]["export_id"]
    assert audited["details"]["full_id"] is False


def test_xlsx_export_with_full_ids_for_the_paying_officer(
    city: dict[str, Any], home_client: Client
) -> None:
    answer = home_client("officer").post_form(
        "/payments/export",
        {
            "program": city["program"],
            "month": city["month"],
            "format": "xlsx",
            "lang": "en",
            "full_id": "1",
        },
    )
    assert answer.status_code == 200, answer.text[:400]
    assert "spreadsheetml" in answer.headers["content-type"]
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    sheet = book["payment list"]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == headers("en")
    assert [row[ID_COLUMN] for row in values[1:]] == [line.id_number for line in city["lines"]]
    assert all(re.fullmatch(r"\d{17}[\dX]", row[ID_COLUMN]) for row in values[1:])
    assert "totals" in book.sheetnames
    recorded = _exports(city["engine"])[-1]
    assert (recorded["full_id"], recorded["file_name"]) == (
        True,
        f"{city['program']}-{city['month']}-full-id.xlsx",
    )
    assert audit_rows(city["engine"], "export_payments")[-1]["details"]["full_id"] is True


def test_the_auditor_reads_lists_but_exports_none(
    city: dict[str, Any], home_client: Client
) -> None:
    auditor = home_client("auditor")
    page = auditor.get(f"/payments?program={city['other']}&month={city['month']}")
    assert page.status_code == 200
    assert 'action="/payments/export"' not in page.text
    answer = auditor.post_form(
        "/payments/export", {"program": city["program"], "month": city["month"]}
    )
    assert answer.status_code == 403
    assert _exports(city["engine"]) == []


def test_an_export_without_the_csrf_token_is_refused(
    city: dict[str, Any], home_client: Client
) -> None:
    officer = home_client("officer")
    answer = officer.post(
        "/payments/export",
        data={"program": city["program"], "month": city["month"], "format": "csv"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert _exports(city["engine"]) == []


def test_the_exports_page(city: dict[str, Any], home_client: Client) -> None:
    officer = home_client("officer")
    for fmt in ("csv", "xlsx"):
        officer.post_form(
            "/payments/export", {"program": city["program"], "month": city["month"], "format": fmt}
        )
    auditor_page = home_client("auditor").get("/exports")
    assert auditor_page.status_code == 200
    assert f"{city['program']}-{city['month']}.csv" in auditor_page.text
    assert f"{city['program']}-{city['month']}.xlsx" in auditor_page.text
    assert auditor_page.text.count(">officer<") == 2
    assert officer.get("/exports").status_code == 200


# --- the queries on both databases --------------------------------------------------------


def _principal(role: str, programs: tuple[str, ...] = ()) -> Principal:
    return Principal(1, role, role, frozenset(programs), frozenset(), frozenset(), None, "zh-CN")


def test_payment_queries(engine: Engine, small_registry: dict[str, int]) -> None:
    from lifesign.payments.export import export_payment_list

    catalog = load_catalog(None)
    officer = _principal("program_officer", ("resident_pension",))
    assert visible_programs(officer, catalog) == ["resident_pension"]
    assert len(visible_programs(_principal("auditor"), catalog)) == len(catalog.programs)
    preview = payment_preview(engine, catalog, "resident_pension", "2026-05")
    assert (preview.all_lines, preview.matching, preview.pages) == (2, 2, 1)
    assert all("*" in line.id_number for line in preview.lines)
    assert {t.status: t.lines for t in preview.totals}["payable"] == 2
    lines = payment_list(engine, catalog, "resident_pension", "2026-05")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        for program in ("resident_pension", "longevity_allowance"):
            export_payment_list(
                engine, lines, Path(folder) / f"{program}.csv", program=program, month="2026-05",
                exported_by="someone",
            )  # fmt: skip
    with engine.connect() as conn:
        assert [e.program for e in export_log(conn, officer).rows] == ["resident_pension"]
        assert export_log(conn, _principal("auditor")).total == 2
