"""Payment lists on the web: the same lines as `lifesign payments list` (lifesign.payments),
previewed page by page, and the log of exports.

    preview = payment_preview(engine, catalog, "resident_pension", "2026-05", status="suspended")
    page = export_log(connection, principal, before=None)

The lines come from `lifesign.payments.lines.payment_list` — one definition of who is paid,
suspended, resumed with back pay or terminated, shared with the files the paying department
receives. Building them reads every enrollment of the program, so they are kept in process per
(database, program, month, data version): the data version is the newest decision, batch, case
event and back-pay row (four primary-key maxima, index-backed), so any change to what a list is
made of gives a new version, and a page turn or an export right after the preview costs nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, select

from lifesign.catalog import Catalog
from lifesign.certify.models import Decision
from lifesign.integrity.models import CaseEvent, Export
from lifesign.lifecycle.models import BackPay, Run
from lifesign.payments.lines import (
    LINE_STATUSES,
    PaymentLine,
    StatusTotals,
    month_bounds,
    payment_list,
    totals_by_status,
)
from lifesign.store.models import Batch
from lifesign.web.auth import Principal
from lifesign.web.permissions import allowed, programs_scope
from lifesign.web.queries.keyset import Page, newest_first, page_of, page_size

__all__ = [
    "LINE_STATUSES",
    "ExportRow",
    "PaymentPreview",
    "PreviewLine",
    "default_month",
    "export_log",
    "payment_lines",
    "payment_preview",
    "visible_programs",
]

exports_t = cast(Table, Export.__table__)

# Lists kept in process. A Bozhou-scale program list is hundreds of thousands of lines (about
# 200 MB as Python objects), so only the few most recently used are kept.
CACHED_LISTS = 4


@dataclass(frozen=True)
class PreviewLine:
    """A line as the page shows it: the ID number masked (the page never shows it in full)."""

    enrollment_id: int
    external_ref: str
    person_id: int
    name: str
    id_number: str
    age: int | None
    grid_code: str | None
    status: str
    amount: Decimal
    back_pay_months: int
    back_pay_amount: Decimal
    total: Decimal
    overpayment: Decimal
    since: dt.date | None
    note: str


@dataclass(frozen=True)
class PaymentPreview:
    program: str
    month: str
    status: str | None  # the filter (None: every status)
    totals: Sequence[StatusTotals]
    lines: Sequence[PreviewLine]
    matching: int  # lines of the filtered status
    page: int
    pages: int
    size: int

    @property
    def all_lines(self) -> int:
        return sum(t.lines for t in self.totals)

    @property
    def grand_total(self) -> Decimal:
        return sum((t.total for t in self.totals), Decimal("0.00"))

    @property
    def overpayment(self) -> Decimal:
        return sum((t.overpayment for t in self.totals), Decimal("0.00"))


@dataclass(frozen=True)
class ExportRow:
    export_id: int
    kind: str
    program: str | None
    period: str | None
    full_id: bool
    rows: int
    file_name: str | None
    exported_by: str
    exported_at: dt.datetime | None


@dataclass(frozen=True)
class _Built:
    """A list as kept in process: its lines, their totals and the lines of each status (the
    totals of a Bozhou-size list take longer than a page should, so they are summed once)."""

    lines: list[PaymentLine]
    totals: list[StatusTotals]
    by_status: dict[str, list[PaymentLine]]


_lock = threading.Lock()
_lists: OrderedDict[tuple[str, str, str, tuple[int, ...]], _Built] = OrderedDict()


def _data_version(connection: Connection) -> tuple[int, ...]:
    """What a payment list is made of, as four index-backed maxima (0 for an empty table)."""
    columns = (
        Decision.decision_id,
        Batch.batch_id,
        CaseEvent.event_id,
        BackPay.back_pay_id,
    )
    return tuple(int(connection.execute(select(func.max(c))).scalar() or 0) for c in columns)


def payment_lines(engine: Engine, catalog: Catalog, program: str, month: str) -> list[PaymentLine]:
    """The month's lines of the program (lifesign.payments), from the in-process cache when
    nothing they are made of has changed since."""
    return _built(engine, catalog, program, month).lines


def _built(engine: Engine, catalog: Catalog, program: str, month: str) -> _Built:
    month_bounds(month)  # a malformed month is refused before anything is read
    with engine.connect() as connection:
        version = _data_version(connection)
    key = (engine.url.render_as_string(hide_password=True), program, month, version)
    with _lock:
        if key in _lists:
            _lists.move_to_end(key)
            return _lists[key]
    lines = payment_list(engine, catalog, program, month)
    by_status: dict[str, list[PaymentLine]] = {status: [] for status in LINE_STATUSES}
    for line in lines:
        by_status[line.status].append(line)
    built = _Built(lines=lines, totals=totals_by_status(lines), by_status=by_status)
    with _lock:
        _lists[key] = built
        while len(_lists) > CACHED_LISTS:
            _lists.popitem(last=False)
    return built


def visible_programs(principal: Principal, catalog: Catalog) -> list[str]:
    """The program codes whose lists the principal may see, in catalog order."""
    scope = programs_scope(principal)
    return [code for code in catalog.programs if scope is None or code in scope]


def default_month(connection: Connection, today: dt.date | None = None) -> str:
    """The month of the latest finished daily run (a replayed city lives in its own time; a
    city in production runs every day, so it is the current month), else the current month."""
    latest = connection.execute(
        select(func.max(Run.as_of)).where(Run.status == "finished")
    ).scalar()
    day = latest or today or dt.date.today()
    return f"{day.year:04d}-{day.month:02d}"


def _shown(line: PaymentLine) -> PreviewLine:
    return PreviewLine(
        enrollment_id=line.enrollment_id,
        external_ref=line.external_ref,
        person_id=line.person_id,
        name=line.name,
        id_number=line.masked_id_number,
        age=line.age,
        grid_code=line.grid_code,
        status=line.status,
        amount=line.amount,
        back_pay_months=line.back_pay_months,
        back_pay_amount=line.back_pay_amount,
        total=line.total,
        overpayment=line.overpayment,
        since=line.since,
        note=line.note,
    )


def payment_preview(
    engine: Engine,
    catalog: Catalog,
    program: str,
    month: str,
    *,
    status: str | None = None,
    page: int = 1,
    size: int | None = None,
) -> PaymentPreview:
    """Totals per status and one page of the lines (optionally of one status)."""
    built = _built(engine, catalog, program, month)
    size = page_size(size)
    wanted = status if status in LINE_STATUSES else None
    chosen = built.lines if wanted is None else built.by_status[wanted]
    pages = max(1, -(-len(chosen) // size))
    page = min(max(page, 1), pages)
    start = (page - 1) * size
    return PaymentPreview(
        program=program,
        month=month,
        status=wanted,
        totals=built.totals,
        lines=[_shown(line) for line in chosen[start : start + size]],
        matching=len(chosen),
        page=page,
        pages=pages,
        size=size,
    )


def export_log(
    connection: Connection,
    principal: Principal,
    *,
    program: str | None = None,
    before: int | None = None,
    size: int | None = None,
) -> Page[ExportRow]:
    """Exports newest first. An auditor or an admin sees every export; a program officer the
    exports of their programs' lists."""
    size = page_size(size)
    conditions: list[ColumnElement[bool]] = []
    scope = None if allowed(principal, "view_audit") else programs_scope(principal)
    if scope is not None:
        conditions.append(exports_t.c.program.in_(sorted(scope)))
    if program:
        conditions.append(exports_t.c.program == program)
    total = connection.execute(
        select(func.count()).select_from(exports_t).where(*conditions)
    ).scalar_one()
    query = newest_first(select(exports_t).where(*conditions), exports_t.c.export_id, before, size)
    out = [
        ExportRow(
            export_id=int(r.export_id),
            kind=r.kind,
            program=r.program,
            period=r.period,
            full_id=bool(r.full_id),
            rows=int(r.rows),
            file_name=r.file_name,
            exported_by=r.exported_by,
            exported_at=r.exported_at,
        )
        for r in connection.execute(query)
    ]
    return page_of(out, lambda row: row.export_id, int(total), size, before)
