"""Payment lists as files for the paying department: CSV (UTF-8 with BOM, so Excel opens the
Chinese right) or XLSX (XlsxWriter: the list and a totals sheet), Chinese headers by default,
English with lang='en'.

ID numbers are masked unless `full_id=True`: the paying department needs the full number to
pay, nobody else does. Every export is written to the `exports` audit table (who, what, with
full IDs or not) and logged — without any ID number.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, insert

from lifesign.errors import LifesignError, Location
from lifesign.integrity.models import Export
from lifesign.payments.lines import PaymentLine, StatusTotals, totals_by_status

log = logging.getLogger(__name__)

Lang = Literal["zh", "en"]
Format = Literal["csv", "xlsx"]

# (key, 中文, English) of each column of the list, in order.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("external_ref", "业务编号", "enrollment reference"),
    ("name", "姓名", "name"),
    ("id_number", "公民身份号码", "ID number"),
    ("sex", "性别", "sex"),
    ("age", "年龄", "age"),
    ("program", "项目", "program"),
    ("month", "发放月份", "month"),
    ("status", "发放状态", "status"),
    ("amount", "本月发放金额(元)", "amount this month (yuan)"),
    ("back_pay_months", "补发月数", "back-pay months"),
    ("back_pay_amount", "补发金额(元)", "back pay (yuan)"),
    ("total", "本月合计(元)", "total this month (yuan)"),
    ("overpayment", "应追回金额(元)", "overpayment to recover (yuan)"),
    ("since", "状态日期", "status since"),
    ("grid_code", "网格", "grid"),
    ("household_id", "户号", "household"),
    ("address", "地址", "address"),
    ("note", "备注", "note"),
)
TOTAL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("status", "发放状态", "status"),
    ("lines", "人数", "lines"),
    ("amount", "本月发放金额(元)", "amount this month (yuan)"),
    ("back_pay_months", "补发月数", "back-pay months"),
    ("back_pay_amount", "补发金额(元)", "back pay (yuan)"),
    ("total", "本月合计(元)", "total this month (yuan)"),
    ("overpayment", "应追回金额(元)", "overpayment to recover (yuan)"),
)
STATUS_NAMES = {
    "payable": ("正常发放", "payable"),
    "suspended": ("暂停发放", "suspended"),
    "resumed": ("恢复发放(含补发)", "resumed (with back pay)"),
    "terminated": ("终止发放", "terminated"),
    "all": ("合计", "all"),
}
SHEETS = {"list": ("发放名单", "payment list"), "totals": ("合计", "totals")}
SEX = {"M": ("男", "M"), "F": ("女", "F")}


class ExportError(LifesignError):
    """A payment list that cannot be written."""


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "zh" else pair[1]


def headers(lang: Lang) -> list[str]:
    return [zh if lang == "zh" else en for _, zh, en in COLUMNS]


def line_values(line: PaymentLine, lang: Lang, full_id: bool) -> list[Any]:
    """One row of the list: numbers as Decimal/int, dates as ISO text, the ID masked unless
    `full_id`."""
    values: dict[str, Any] = {
        "external_ref": line.external_ref,
        "name": line.name,
        "id_number": line.id_number if full_id else line.masked_id_number,
        "sex": _pick(SEX[line.sex], lang) if line.sex in SEX else "",
        "age": line.age,
        "program": line.program,
        "month": line.month,
        "status": _pick(STATUS_NAMES[line.status], lang),
        "amount": line.amount,
        "back_pay_months": line.back_pay_months,
        "back_pay_amount": line.back_pay_amount,
        "total": line.total,
        "overpayment": line.overpayment,
        "since": line.since.isoformat() if line.since else "",
        "grid_code": line.grid_code or "",
        "household_id": line.household_id or "",
        "address": line.address or "",
        "note": line.note,
    }
    return [values[key] for key, _, _ in COLUMNS]


def totals_rows(totals: Sequence[StatusTotals], lang: Lang) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for t in totals:
        rows.append(
            [
                _pick(STATUS_NAMES[t.status], lang),
                t.lines,
                t.amount,
                t.back_pay_months,
                t.back_pay_amount,
                t.total,
                t.overpayment,
            ]
        )
    rows.append(
        [
            _pick(STATUS_NAMES["all"], lang),
            sum(t.lines for t in totals),
            sum((t.amount for t in totals), Decimal("0.00")),
            sum(t.back_pay_months for t in totals),
            sum((t.back_pay_amount for t in totals), Decimal("0.00")),
            sum((t.total for t in totals), Decimal("0.00")),
            sum((t.overpayment for t in totals), Decimal("0.00")),
        ]
    )
    return rows


def write_csv(lines: Sequence[PaymentLine], path: Path, *, lang: Lang, full_id: bool) -> None:
    """The list as CSV, UTF-8 with a BOM (Excel reads the Chinese right), then a blank line
    and the totals per status."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers(lang))
        for line in lines:
            writer.writerow(["" if v is None else str(v) for v in line_values(line, lang, full_id)])
        writer.writerow([])
        writer.writerow([zh if lang == "zh" else en for _, zh, en in TOTAL_COLUMNS])
        for row in totals_rows(totals_by_status(lines), lang):
            writer.writerow([str(v) for v in row])


def write_xlsx(
    lines: Sequence[PaymentLine], path: Path, *, lang: Lang, full_id: bool, title: str
) -> None:
    """The list and a totals sheet as XLSX; amounts as numbers with two decimals, ID numbers
    as text (Excel would otherwise turn 18 digits into a rounded number)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path))
    try:
        bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        money = workbook.add_format({"num_format": "#,##0.00"})
        text = workbook.add_format({"num_format": "@"})
        sheet = workbook.add_worksheet(_pick(SHEETS["list"], lang))
        sheet.write_row(0, 0, headers(lang), bold)
        keys = [key for key, _, _ in COLUMNS]
        money_keys = {"amount", "back_pay_amount", "total", "overpayment"}
        for r, line in enumerate(lines, start=1):
            for c, (key, value) in enumerate(
                zip(keys, line_values(line, lang, full_id), strict=True)
            ):
                if key in money_keys:
                    sheet.write_number(r, c, float(value), money)
                elif value is None or value == "":
                    sheet.write_blank(r, c, None)
                elif isinstance(value, int):
                    sheet.write_number(r, c, value)
                else:
                    sheet.write_string(r, c, str(value), text if key == "id_number" else None)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(lines), 1), len(keys) - 1)
        sheet.set_column(0, len(keys) - 1, 14)
        totals = workbook.add_worksheet(_pick(SHEETS["totals"], lang))
        totals.write(0, 0, title, bold)
        totals.write_row(1, 0, [zh if lang == "zh" else en for _, zh, en in TOTAL_COLUMNS], bold)
        for r, row in enumerate(totals_rows(totals_by_status(lines), lang), start=2):
            totals.write_string(r, 0, row[0])
            totals.write_number(r, 1, row[1])
            totals.write_number(r, 2, float(row[2]), money)
            totals.write_number(r, 3, row[3])
            totals.write_number(r, 4, float(row[4]), money)
            totals.write_number(r, 5, float(row[5]), money)
            totals.write_number(r, 6, float(row[6]), money)
        totals.set_column(0, 6, 18)
    finally:
        workbook.close()


def export_payment_list(
    engine: Engine,
    lines: Sequence[PaymentLine],
    path: Path,
    *,
    program: str,
    month: str,
    exported_by: str,
    fmt: Format = "csv",
    lang: Lang = "zh",
    full_id: bool = False,
) -> int:
    """Write the list to `path` and record the export; returns the export's audit id."""
    if not exported_by.strip():
        raise ExportError(
            what="a payment list export needs the name of who exports it",
            why="exports of personal data are audited",
            where=Location(field="exported_by"),
        )
    if fmt == "csv":
        write_csv(lines, path, lang=lang, full_id=full_id)
    elif fmt == "xlsx":
        write_xlsx(lines, path, lang=lang, full_id=full_id, title=f"{program} {month}")
    else:
        raise ExportError(
            what=f"unknown format {fmt!r}", why="csv or xlsx", where=Location(field="format")
        )
    with engine.begin() as connection:
        export_id = connection.execute(
            insert(Export)
            .values(
                kind="payment_list",
                program=program,
                period=month,
                full_id=full_id,
                rows=len(lines),
                file_name=path.name,
                exported_by=exported_by,
                exported_at=dt.datetime.now(dt.UTC),
            )
            .returning(Export.export_id)
        ).scalar_one()
    log.info(
        "payment list %s %s exported by %s: %d rows, %s ID numbers, file %s (export %d)",
        program,
        month,
        exported_by,
        len(lines),
        "FULL" if full_id else "masked",
        path.name,
        export_id,
    )
    return int(export_id)
