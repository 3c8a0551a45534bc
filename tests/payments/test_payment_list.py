"""Payment lists on a hand-made registry (SQLite and PostgreSQL): one line per status, the
catalog's age tiers, back pay, overpayment; CSV and XLSX read back; the exports audit."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, insert, select

from lifesign.catalog import Catalog, load_catalog
from lifesign.certify.models import Decision
from lifesign.cli import cli
from lifesign.integrity.cases import open_case
from lifesign.integrity.models import Export
from lifesign.lifecycle.models import BackPay
from lifesign.payments.export import export_payment_list, headers
from lifesign.payments.lines import PaymentListError, payment_list, totals_by_status
from tests.integrity.registry import add_enrollment, add_person

MONTH = "2025-07"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(None)


def _decision(connection, person: int, enrollment: int, kind: str, effective: dt.date) -> int:  # type: ignore[no-untyped-def]
    return int(
        connection.execute(
            insert(Decision)
            .values(
                person_id=person,
                enrollment_id=enrollment,
                kind=kind,
                effective_date=effective,
                decided_on=effective,
                rule="test",
                catalog_version="2026.1",
                evidence=[],
            )
            .returning(Decision.decision_id)
        ).scalar_one()
    )


@pytest.fixture
def registry(engine: Engine) -> dict[str, str]:
    """Five recipients of the longevity allowance / resident pension, one per situation."""
    ids: dict[str, str] = {}
    with engine.begin() as connection:
        # payable, 90+ tier from July (turned 90 on 2025-06-15)
        ids["payable"] = add_person(connection, 1, born=dt.date(1935, 6, 15), name="王桂兰")
        add_enrollment(connection, 11, 1, "longevity_allowance", amount="100.00")
        # suspended since June (certification expired)
        ids["suspended"] = add_person(connection, 2, born=dt.date(1940, 2, 2), name="李建国")
        add_enrollment(connection, 12, 2, "longevity_allowance", amount="50.00", status="suspended")
        _decision(connection, 2, 12, "suspended", dt.date(2025, 6, 1))
        # resumed in July with three months paid back
        ids["resumed"] = add_person(connection, 3, born=dt.date(1941, 3, 3), name="张德明")
        add_enrollment(connection, 13, 3, "longevity_allowance", amount="50.00")
        decision = _decision(connection, 3, 13, "resumed", dt.date(2025, 7, 1))
        connection.execute(
            insert(BackPay).values(
                enrollment_id=13,
                person_id=3,
                decision_id=decision,
                months=3,
                periods=["2025-04", "2025-05", "2025-06"],
                amount=Decimal("150.00"),
                resumes_on=dt.date(2025, 7, 1),
                decided_on=dt.date(2025, 6, 20),
            )
        )
        # terminated on death in June, two months overpaid
        ids["terminated"] = add_person(connection, 4, born=dt.date(1938, 4, 4), name="刘秀英")
        add_enrollment(
            connection,
            14,
            4,
            "longevity_allowance",
            amount="50.00",
            status="terminated",
            end=dt.date(2025, 5, 20),
        )
        _decision(connection, 4, 14, "terminated", dt.date(2025, 5, 20))
        open_case(
            connection,
            kind="recovery",
            rule="death_overpayment",
            person_id=4,
            opened_on=dt.date(2025, 6, 2),
            amount=Decimal("100.00"),
            enrollment_id=14,
        )
        # terminated long ago, nothing to recover: not on the list
        add_person(connection, 5, born=dt.date(1930, 5, 5), name="陈志强")
        add_enrollment(
            connection,
            15,
            5,
            "longevity_allowance",
            amount="100.00",
            status="terminated",
            end=dt.date(2023, 1, 31),
        )
        # another program: not on the list
        add_enrollment(connection, 16, 1, "resident_pension")
    return ids


def test_one_line_per_status_with_amounts(
    engine: Engine, catalog: Catalog, registry: dict[str, str]
) -> None:
    lines = payment_list(engine, catalog, "longevity_allowance", MONTH)
    by_ref = {line.external_ref: line for line in lines}
    assert sorted(by_ref) == ["E000011", "E000012", "E000013", "E000014"]
    payable, suspended, resumed, terminated = (by_ref[f"E00001{i}"] for i in range(1, 5))
    assert (payable.status, payable.age, payable.amount, payable.total) == (
        "payable",
        90,
        Decimal("100.00"),
        Decimal("100.00"),
    )
    assert (suspended.status, suspended.amount, suspended.since) == (
        "suspended",
        Decimal("0.00"),
        dt.date(2025, 6, 1),
    )
    assert (resumed.status, resumed.amount, resumed.back_pay_months, resumed.back_pay_amount) == (
        "resumed",
        Decimal("50.00"),
        3,
        Decimal("150.00"),
    )
    assert resumed.total == Decimal("200.00")
    assert (terminated.status, terminated.amount, terminated.overpayment, terminated.since) == (
        "terminated",
        Decimal("0.00"),
        Decimal("100.00"),
        dt.date(2025, 5, 20),
    )
    assert payable.id_number == registry["payable"]
    assert payable.masked_id_number != registry["payable"] and "*" in payable.masked_id_number
    # June: the 80+ tier (89 on 2025-06-01), and the resumption is not yet in the month.
    june = {
        line.external_ref: line
        for line in payment_list(engine, catalog, "longevity_allowance", "2025-06")
    }
    assert june["E000011"].amount == Decimal("50.00")
    assert june["E000013"].status == "payable"

    totals = {t.status: t for t in totals_by_status(lines)}
    assert [totals[s].lines for s in ("payable", "suspended", "resumed", "terminated")] == [
        1,
        1,
        1,
        1,
    ]
    assert totals["payable"].amount == Decimal("100.00")
    assert totals["resumed"].total == Decimal("200.00")
    assert totals["resumed"].back_pay_months == 3
    assert totals["terminated"].overpayment == Decimal("100.00")


def test_bad_program_or_month(engine: Engine, catalog: Catalog) -> None:
    with pytest.raises(PaymentListError, match="unknown program 'pension'"):
        payment_list(engine, catalog, "pension", MONTH)
    with pytest.raises(PaymentListError, match="'2025-13' is not a month"):
        payment_list(engine, catalog, "dibao", "2025-13")


def test_csv_has_a_bom_chinese_headers_masked_ids_and_totals(
    engine: Engine, catalog: Catalog, registry: dict[str, str], tmp_path: Path
) -> None:
    lines = payment_list(engine, catalog, "longevity_allowance", MONTH)
    out = tmp_path / "list.csv"
    export_payment_list(
        engine, lines, out, program="longevity_allowance", month=MONTH, exported_by="测试员"
    )
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == headers("zh") and rows[0][:3] == ["业务编号", "姓名", "公民身份号码"]
    body = rows[1:5]
    assert {r[7] for r in body} == {"正常发放", "暂停发放", "恢复发放(含补发)", "终止发放"}
    assert all(number not in raw.decode("utf-8-sig") for number in registry.values())
    assert rows[5] == []
    assert rows[6][0] == "发放状态"
    assert rows[-1] == ["合计", "4", "150.00", "3", "150.00", "300.00", "100.00"]
    with engine.connect() as connection:
        audit = connection.execute(select(Export.exported_by, Export.full_id, Export.rows)).all()
    assert [tuple(a) for a in audit] == [("测试员", False, 4)]


def test_xlsx_in_english_with_full_ids_and_a_totals_sheet(
    engine: Engine, catalog: Catalog, registry: dict[str, str], tmp_path: Path
) -> None:
    lines = payment_list(engine, catalog, "longevity_allowance", MONTH)
    out = tmp_path / "list.xlsx"
    export_payment_list(
        engine,
        lines,
        out,
        program="longevity_allowance",
        month=MONTH,
        exported_by="payer",
        fmt="xlsx",
        lang="en",
        full_id=True,
    )
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["payment list", "totals"]
    sheet = book["payment list"]
    header = [c.value for c in sheet[1]]
    assert header == headers("en")
    id_col = header.index("ID number")
    assert {row[id_col].value for row in sheet.iter_rows(min_row=2)} == set(registry.values())
    totals = book["totals"]
    rows = [[c.value for c in row] for row in totals.iter_rows(min_row=3)]
    assert rows[0][:3] == ["payable", 1, 100]
    assert rows[-1] == ["all", 4, 150, 3, 150, 300, 100]
    with engine.connect() as connection:
        assert connection.execute(select(Export.full_id)).scalar_one() is True


def test_cli_writes_the_file_and_never_prints_an_id(
    database_url: str, registry_cli: None, tmp_path: Path
) -> None:
    out = tmp_path / "list.xlsx"
    result = CliRunner().invoke(
        cli,
        [
            "--home",
            str(tmp_path / "home"),
            "payments",
            "list",
            "--program",
            "longevity_allowance",
            "--month",
            MONTH,
            "--out",
            str(out),
            "--full-id",
            "--by",
            "财务科",
        ],
        env={"LIFESIGN_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    assert "4 line(s) written" in result.output and "FULL ID numbers" in result.output
    assert "3416" not in result.output
    assert openpyxl.load_workbook(out).sheetnames == ["发放名单", "合计"]


@pytest.fixture
def registry_cli(registry: dict[str, str]) -> None:
    """The same registry, for the CLI test (which opens the database by URL)."""
