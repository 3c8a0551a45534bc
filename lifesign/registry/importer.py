"""Import a registry in the canonical CSV format (docs/registry-format.md) into the state database.

How it works, per file (people.csv, then enrollments.csv, then payments.csv):

1. The file's SHA-256 is looked up among committed `registry` batches: the same content is
   never applied twice ("already imported in batch N").
2. A `batches` row is written (status `running`), then, in one transaction:
3. rows are streamed with the csv module and validated in Python (ID numbers normalised,
   pseudonyms computed); good rows go in chunks to a temporary staging table (executemany on
   SQLite, COPY on PostgreSQL), problems to `import_rejections` with masked values;
4. set-based SQL then rejects duplicate keys within the file (the first row wins) and references
   to unknown people or enrollments, updates rows whose values changed, inserts new ones
   (`INSERT … SELECT … ON CONFLICT DO NOTHING`), and counts what stayed unchanged;
5. the batch is marked `committed` with its counts. A failure rolls everything back and marks
   the batch `failed`; re-running imports it again.

Memory stays bounded by the chunk size whatever the file size: duplicate and reference checks
run in the database, not in Python sets. No full ID number or phone number ever appears in a
rejection, a message or the output: `mask_id_number` / `mask_phone` are applied to values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from lifesign.errors import LifesignError, Location
from lifesign.registry.csvfiles import CsvFile, file_digest
from lifesign.registry.ids import (
    IdRejection,
    mask_id_number,
    mask_phone,
    try_normalize_id_number,
)
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store.database import bulk_load, is_sqlite
from lifesign.store.models import (
    ENROLLMENT_STATUSES,
    Batch,
    Enrollment,
    ImportRejection,
    Payment,
    Person,
)

BATCH_KIND = "registry"
CHUNK_ROWS = 50_000
SAMPLE_REJECTIONS = 50

PEOPLE, ENROLLMENTS, PAYMENTS = "people", "enrollments", "payments"
FILE_ORDER = (PEOPLE, ENROLLMENTS, PAYMENTS)

COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required columns, optional columns)
    PEOPLE: (
        ("id_number", "name", "grid_code"),
        (
            "sex",
            "birth_date",
            "phone",
            "address",
            "household_id",
            "last_certified_on",
            "last_certification_channel",
        ),
    ),
    ENROLLMENTS: (
        ("enrollment_id", "id_number", "program", "start_date", "monthly_amount", "status"),
        ("end_date",),
    ),
    PAYMENTS: (("enrollment_id", "period", "amount", "paid_on"), ()),
}

MAX_LENGTH = {
    "name": 64,
    "address": 256,
    "household_id": 64,
    "grid_code": 32,
    "enrollment_id": 64,
    "program": 64,
}

# How the registry's last certification (before go-live) was made.
CERTIFICATION_CHANNELS = ("auto", "self_service", "counter", "home_visit")
SEXES = {"M": "M", "F": "F", "m": "M", "f": "F", "男": "M", "女": "F"}
PHONE = re.compile(r"1[3-9][0-9]{9}")
PERIOD = re.compile(r"[12][0-9]{3}-(0[1-9]|1[0-2])")
MAX_AMOUNT = Decimal("9999999999.99")
CENT = Decimal("0.01")


class Reason:
    """Stable reason codes of rejected rows (besides the ID-number ones of `IdRejection`)."""

    MISSING = "missing"
    TOO_LONG = "too_long"
    BAD_ROW = "bad_row"
    BAD_SEX = "bad_sex"
    SEX_MISMATCH = "sex_mismatch"
    BAD_DATE = "bad_date"
    BIRTH_DATE_MISMATCH = "birth_date_mismatch"
    BAD_PHONE = "bad_phone"
    UNKNOWN_GRID = "unknown_grid"
    UNKNOWN_PROGRAM = "unknown_program"
    BAD_AMOUNT = "bad_amount"
    BAD_STATUS = "bad_status"
    END_BEFORE_START = "end_before_start"
    BAD_PERIOD = "bad_period"
    BAD_CHANNEL = "bad_channel"
    FUTURE_DATE = "future_date"
    DUPLICATE = "duplicate"
    UNKNOWN_PERSON = "unknown_person"
    UNKNOWN_ENROLLMENT = "unknown_enrollment"


def mask_value(column: str | None, value: str | None) -> str | None:
    """The value as it may be stored or shown: ID numbers and phones masked, long text cut."""
    if value is None:
        return None
    if column == "id_number":
        return mask_id_number(value)
    if column == "phone":
        return mask_phone(value)
    return value[:256]


@dataclass(frozen=True)
class Rejection:
    """One problem of one row. `value` is already masked."""

    file: str
    line: int
    field: str | None
    value: str | None
    reason: str
    message: str


@dataclass
class FileReport:
    """What happened to one file."""

    kind: str
    file: str
    encoding: str = ""
    sha256: str = ""
    batch_id: int | None = None
    already_imported_in: int | None = None
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # rows
    reasons: Counter[str] = field(default_factory=Counter)  # problems by reason
    samples: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "duplicates": self.reasons.get(Reason.DUPLICATE, 0),
            "reasons": dict(sorted(self.reasons.items())),
        }


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def batch_ids(self) -> list[int]:
        return [f.batch_id for f in self.files if f.batch_id is not None]


@dataclass(frozen=True)
class RegistryRules:
    """What the catalog allows: program codes and grid codes (None: not checked)."""

    programs: frozenset[str] | None = None
    grids: frozenset[str] | None = None


def rules_from_catalog(catalog_dir: Path | None) -> RegistryRules:
    """Program codes and grid codes of the city's catalog."""
    from lifesign.catalog import load_catalog  # the catalog package is optional at import time

    catalog = load_catalog(catalog_dir)
    grids = frozenset(
        code for code, region in catalog.regions.by_code.items() if region.level == "grid"
    )
    return RegistryRules(programs=frozenset(catalog.programs), grids=grids)


# ---------------------------------------------------------------------------------------------
# Staging tables: one temporary table per kind, typed like the target columns.

_stage_metadata = MetaData()


def _stage(name: str, *columns: Column[Any]) -> Table:
    return Table(
        f"stage_{name}",
        _stage_metadata,
        Column("line", Integer, nullable=False),
        *columns,
        prefixes=["TEMPORARY"],
    )


STAGES: dict[str, Table] = {
    PEOPLE: _stage(
        PEOPLE,
        Column("id_number", String(18)),
        Column("pseudonym", String(32)),
        Column("name", String(64)),
        Column("sex", String(1)),
        Column("birth_date", Date),
        Column("phone", String(20)),
        Column("grid_code", String(32)),
        Column("address", String(256)),
        Column("household_id", String(64)),
        Column("last_certified_on", Date),
        Column("last_certification_channel", String(16)),
    ),
    ENROLLMENTS: _stage(
        ENROLLMENTS,
        Column("external_ref", String(64)),
        Column("id_number", String(18)),
        Column("program", String(64)),
        Column("start_date", Date),
        Column("end_date", Date),
        Column("monthly_amount", Numeric(12, 2)),
        Column("status", String(16)),
    ),
    PAYMENTS: _stage(
        PAYMENTS,
        Column("external_ref", String(64)),
        Column("period", String(7)),
        Column("amount", Numeric(12, 2)),
        Column("paid_on", Date),
    ),
}
# The column of each stage that a rejection found in SQL points at, and the file's name for it.
STAGE_KEY_FIELD = {PEOPLE: "id_number", ENROLLMENTS: "enrollment_id", PAYMENTS: "enrollment_id"}

people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
payments_t = cast(Table, Payment.__table__)
batches_t = cast(Table, Batch.__table__)
rejections_t = cast(Table, ImportRejection.__table__)


# ---------------------------------------------------------------------------------------------
# Row validation (pure Python, the hot loop).


def _parse_date(text: str) -> bool:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _parse_amount(text: str) -> str | None:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        return None
    if amount != amount.quantize(CENT):
        return None
    return str(amount.quantize(CENT))


_ID_MESSAGES_FOR_EMPTY = "the ID number is required"


class _RowChecker:
    """Validates rows of one file; collects problems of the current row."""

    def __init__(
        self,
        kind: str,
        file: str,
        header: Sequence[str],
        rules: RegistryRules,
        pseudonymizer: Pseudonymizer,
        today: dt.date,
    ) -> None:
        self.kind = kind
        self.file = file
        self.rules = rules
        self.pseudonymizer = pseudonymizer
        self.today = today
        self.width = len(header)
        required, optional = COLUMNS[kind]
        self.index = {name: header.index(name) for name in (*required, *optional) if name in header}
        self.problems: list[Rejection] = []
        self.line = 0

    def problem(self, column: str | None, value: str | None, reason: str, message: str) -> None:
        self.problems.append(
            Rejection(self.file, self.line, column, mask_value(column, value), reason, message)
        )

    def cell(self, row: Sequence[str], column: str) -> str:
        position = self.index.get(column)
        return "" if position is None else row[position].strip()

    def required(self, row: Sequence[str], column: str) -> str:
        value = self.cell(row, column)
        if not value:
            self.problem(column, value, Reason.MISSING, f"{column} is required")
        elif column in MAX_LENGTH and len(value) > MAX_LENGTH[column]:
            self.problem(
                column,
                value,
                Reason.TOO_LONG,
                f"{column} has at most {MAX_LENGTH[column]} characters",
            )
        return value

    def optional(self, row: Sequence[str], column: str) -> str | None:
        value = self.cell(row, column)
        if not value:
            return None
        if column in MAX_LENGTH and len(value) > MAX_LENGTH[column]:
            self.problem(
                column,
                value,
                Reason.TOO_LONG,
                f"{column} has at most {MAX_LENGTH[column]} characters",
            )
        return value

    def id_number(self, row: Sequence[str]) -> str | None:
        raw = self.cell(row, "id_number")
        if not raw:
            self.problem("id_number", raw, Reason.MISSING, _ID_MESSAGES_FOR_EMPTY)
            return None
        normalised, error = try_normalize_id_number(raw, today=self.today)
        if error is not None:
            reason = Reason.MISSING if error.reason == IdRejection.EMPTY else str(error.reason)
            self.problem("id_number", raw, reason, error.message)
        return normalised

    def date(self, column: str, value: str | None) -> str | None:
        if value is None or _parse_date(value):
            return value
        self.problem(column, value, Reason.BAD_DATE, f"{column} must be a real date YYYY-MM-DD")
        return None

    def amount(self, column: str, value: str) -> str | None:
        if not value:
            return None
        amount = _parse_amount(value)
        if amount is None:
            self.problem(
                column,
                value,
                Reason.BAD_AMOUNT,
                f"{column} must be a positive amount in yuan with at most 2 decimals",
            )
        return amount

    def check(self, line: int, row: Sequence[str]) -> tuple[Any, ...] | None:
        """The staging tuple of a good row, or None (problems are in `self.problems`)."""
        self.line = line
        if len(row) != self.width:
            self.problem(
                None,
                None,
                Reason.BAD_ROW,
                f"the row has {len(row)} cells, the header {self.width}",
            )
            return None
        if self.kind == PEOPLE:
            return self._person(line, row)
        if self.kind == ENROLLMENTS:
            return self._enrollment(line, row)
        return self._payment(line, row)

    def _person(self, line: int, row: Sequence[str]) -> tuple[Any, ...] | None:
        before = len(self.problems)
        id_number = self.id_number(row)
        name = self.required(row, "name")
        grid = self.required(row, "grid_code")
        if grid and self.rules.grids is not None and grid not in self.rules.grids:
            self.problem("grid_code", grid, Reason.UNKNOWN_GRID, "not a grid of the region catalog")
        sex_raw = self.cell(row, "sex")
        sex = SEXES.get(sex_raw) if sex_raw else None
        if sex_raw and sex is None:
            self.problem("sex", sex_raw, Reason.BAD_SEX, "sex is M or F (or 男/女)")
        birth = self.date("birth_date", self.cell(row, "birth_date") or None)
        phone_raw = self.cell(row, "phone")
        phone = None
        if phone_raw:
            phone = phone_raw.replace(" ", "").replace("-", "")
            if phone.startswith("+86"):
                phone = phone[3:]
            if not PHONE.fullmatch(phone):
                self.problem("phone", phone_raw, Reason.BAD_PHONE, "not an 11-digit mobile number")
        address = self.optional(row, "address")
        household = self.optional(row, "household_id")
        certified = self.date("last_certified_on", self.cell(row, "last_certified_on") or None)
        if certified is not None and certified > self.today.isoformat():
            self.problem(
                "last_certified_on",
                certified,
                Reason.FUTURE_DATE,
                "the last certification cannot be after today",
            )
        channel = self.cell(row, "last_certification_channel") or None
        if channel is not None and channel not in CERTIFICATION_CHANNELS:
            self.problem(
                "last_certification_channel",
                channel,
                Reason.BAD_CHANNEL,
                "the channel is " + ", ".join(CERTIFICATION_CHANNELS),
            )
        if id_number is None:
            return None
        id_birth = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
        id_sex = "M" if int(id_number[16]) % 2 else "F"
        if sex is not None and sex != id_sex:
            self.problem("sex", sex_raw, Reason.SEX_MISMATCH, "sex disagrees with the ID number")
        if birth is not None and birth != id_birth:
            self.problem(
                "birth_date",
                birth,
                Reason.BIRTH_DATE_MISMATCH,
                "birth date disagrees with the ID number",
            )
        if len(self.problems) > before:
            return None
        return (
            line,
            id_number,
            self.pseudonymizer.pseudonym(id_number),
            name,
            id_sex,
            id_birth,
            phone,
            grid,
            address,
            household,
            certified,
            channel,
        )

    def _enrollment(self, line: int, row: Sequence[str]) -> tuple[Any, ...] | None:
        before = len(self.problems)
        ref = self.required(row, "enrollment_id")
        id_number = self.id_number(row)
        program = self.required(row, "program")
        if program and self.rules.programs is not None and program not in self.rules.programs:
            self.problem("program", program, Reason.UNKNOWN_PROGRAM, "not a program of the catalog")
        start = self.date("start_date", self.required(row, "start_date") or None)
        end = self.date("end_date", self.cell(row, "end_date") or None)
        if start is not None and end is not None and end < start:
            self.problem("end_date", end, Reason.END_BEFORE_START, "end_date is before start_date")
        amount = self.amount("monthly_amount", self.required(row, "monthly_amount"))
        status = self.required(row, "status")
        if status and status not in ENROLLMENT_STATUSES:
            self.problem(
                "status", status, Reason.BAD_STATUS, "status is active, suspended or terminated"
            )
        if len(self.problems) > before:
            return None
        return (line, ref, id_number, program, start, end, amount, status)

    def _payment(self, line: int, row: Sequence[str]) -> tuple[Any, ...] | None:
        before = len(self.problems)
        ref = self.required(row, "enrollment_id")
        period = self.required(row, "period")
        if period and not PERIOD.fullmatch(period):
            self.problem("period", period, Reason.BAD_PERIOD, "period is a month YYYY-MM")
        amount = self.amount("amount", self.required(row, "amount"))
        paid_on = self.date("paid_on", self.required(row, "paid_on") or None)
        if len(self.problems) > before:
            return None
        return (line, ref, period, amount, paid_on)


# ---------------------------------------------------------------------------------------------
# The importer.


ProgressCallback = Callable[[str, int], None]


class RegistryImporter:
    """Imports registry CSV files into the state database behind `engine`."""

    def __init__(
        self,
        engine: Engine,
        pseudonymizer: Pseudonymizer,
        rules: RegistryRules | None = None,
        *,
        today: dt.date | None = None,
        chunk_rows: int = CHUNK_ROWS,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.engine = engine
        self.pseudonymizer = pseudonymizer
        self.rules = rules or RegistryRules()
        self.today = today or dt.date.today()
        self.chunk_rows = chunk_rows
        self.progress = progress

    def import_dir(self, directory: Path) -> ImportReport:
        """Import people.csv, enrollments.csv and payments.csv of `directory` (those present)."""
        if not directory.is_dir():
            raise LifesignError(
                "not a folder",
                "give the folder of the registry files",
                Location(file=str(directory)),
            )
        present = [(kind, directory / f"{kind}.csv") for kind in FILE_ORDER]
        present = [(kind, path) for kind, path in present if path.is_file()]
        if not present:
            raise LifesignError(
                "no registry file found",
                "expected people.csv, enrollments.csv and/or payments.csv",
                Location(file=str(directory)),
            )
        report = ImportReport()
        for kind, path in present:
            report.files.append(self.import_file(kind, path))
        return report

    def import_file(self, kind: str, path: Path) -> FileReport:
        """Import one file of `kind` (people, enrollments or payments) as one batch."""
        started = dt.datetime.now(dt.UTC)
        report = FileReport(kind=kind, file=path.name)
        sha256, size = file_digest(path)
        report.sha256 = sha256
        with self.engine.begin() as connection:
            previous = connection.execute(
                select(batches_t.c.batch_id)
                .where(
                    batches_t.c.kind == BATCH_KIND,
                    batches_t.c.source == kind,
                    batches_t.c.sha256 == sha256,
                    batches_t.c.status == "committed",
                )
                .order_by(batches_t.c.batch_id)
                .limit(1)
            ).scalar_one_or_none()
            if previous is not None:
                report.already_imported_in = previous
                stored = connection.execute(
                    select(batches_t.c.counts).where(batches_t.c.batch_id == previous)
                ).scalar_one()
                report.read = int(stored.get("read", 0))
                report.rejected = int(stored.get("rejected", 0))
                report.unchanged = int(stored.get("accepted", 0))
                return report
            report.batch_id = int(
                connection.execute(
                    insert(batches_t)
                    .values(
                        kind=BATCH_KIND,
                        source=kind,
                        file_name=str(path),
                        sha256=sha256,
                        size_bytes=size,
                        status="running",
                        counts={},
                    )
                    .returning(batches_t.c.batch_id)
                ).scalar_one()
            )
        try:
            with self.engine.connect() as connection, bulk_load(connection), connection.begin():
                self._load(connection, kind, path, report)
                report.seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
                connection.execute(
                    update(batches_t)
                    .where(batches_t.c.batch_id == report.batch_id)
                    .values(
                        status="committed",
                        finished_at=dt.datetime.now(dt.UTC),
                        counts=report.counts(),
                    )
                )
        except BaseException as error:
            with self.engine.begin() as connection:
                connection.execute(
                    update(batches_t)
                    .where(batches_t.c.batch_id == report.batch_id)
                    .values(
                        status="failed",
                        finished_at=dt.datetime.now(dt.UTC),
                        message=str(error)[:2000]
                        if isinstance(error, LifesignError)
                        else type(error).__name__,
                    )
                )
            raise
        return report

    # -- loading ------------------------------------------------------------------------------

    def _load(self, connection: Connection, kind: str, path: Path, report: FileReport) -> None:
        stage = STAGES[kind]
        stage.drop(connection, checkfirst=True)
        stage.create(connection)
        csv_file = CsvFile(path)
        report.encoding = csv_file.encoding
        required, optional = COLUMNS[kind]
        missing = [name for name in required if name not in csv_file.header]
        if missing:
            csv_file.close()
            raise LifesignError(
                f"{path.name} lacks required column(s) {', '.join(missing)}",
                f"the header must name {', '.join(required)} (see docs/registry-format.md)",
                Location(file=path.name, line=1),
            )
        extra = [name for name in csv_file.header if name not in (*required, *optional)]
        if extra:
            report.warnings.append(f"{path.name}: extra column(s) ignored: {', '.join(extra)}")
        checker = _RowChecker(
            kind, path.name, csv_file.header, self.rules, self.pseudonymizer, self.today
        )
        buffer: list[tuple[Any, ...]] = []
        for line, row in csv_file.rows():
            report.read += 1
            staged = checker.check(line, row)
            if staged is None:
                report.rejected += 1
            else:
                buffer.append(staged)
            if len(buffer) >= self.chunk_rows:
                self._stage_rows(connection, stage, buffer)
                buffer.clear()
                if self.progress is not None:
                    self.progress(kind, report.read)
            if len(checker.problems) >= self.chunk_rows // 10:
                self._reject(connection, report, checker.problems)
                checker.problems.clear()
        self._stage_rows(connection, stage, buffer)
        self._reject(connection, report, checker.problems)
        if self.progress is not None:
            self.progress(kind, report.read)
        self._apply(connection, kind, stage, report)
        stage.drop(connection)

    def _stage_rows(
        self, connection: Connection, stage: Table, rows: list[tuple[Any, ...]]
    ) -> None:
        if not rows:
            return
        names = [column.name for column in stage.columns]
        if is_sqlite(connection):
            marks = ", ".join("?" * len(names))
            connection.exec_driver_sql(
                f"INSERT INTO {stage.name} ({', '.join(names)}) VALUES ({marks})", rows
            )
            return
        raw = connection.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {stage.name} ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def _reject(
        self, connection: Connection, report: FileReport, problems: Iterable[Rejection]
    ) -> None:
        records = []
        for problem in problems:
            report.reasons[problem.reason] += 1
            if len(report.samples) < SAMPLE_REJECTIONS:
                report.samples.append(problem)
            records.append(
                {
                    "batch_id": report.batch_id,
                    "file": problem.file,
                    "line": problem.line,
                    "field": problem.field,
                    "value": problem.value,
                    "reason": problem.reason,
                    "message": problem.message,
                }
            )
        if records:
            connection.execute(insert(rejections_t), records)

    def _reject_in_sql(
        self,
        connection: Connection,
        report: FileReport,
        stage: Table,
        condition: Any,
        column: str,
        reason: str,
        message: str,
    ) -> None:
        """Reject (and delete from the stage) the staged rows matching `condition`."""
        field_name = "enrollment_id" if column == "external_ref" else column
        result = connection.execute(
            select(stage.c.line, stage.c[column]).where(condition).order_by(stage.c.line)
        )
        problems: list[Rejection] = []
        for line, value in result:
            problems.append(
                Rejection(
                    report.file, line, field_name, mask_value(field_name, value), reason, message
                )
            )
            if len(problems) >= self.chunk_rows:
                self._reject(connection, report, problems)
                report.rejected += len(problems)
                problems.clear()
        self._reject(connection, report, problems)
        report.rejected += len(problems)
        if report.reasons.get(reason):
            connection.execute(stage.delete().where(condition))

    def _apply(self, connection: Connection, kind: str, stage: Table, report: FileReport) -> None:
        key_columns = {
            PEOPLE: ("id_number",),
            ENROLLMENTS: ("external_ref",),
            PAYMENTS: ("external_ref", "period"),
        }[kind]
        connection.exec_driver_sql(
            f"CREATE INDEX ix_{stage.name}_key ON {stage.name} ({', '.join(key_columns)}, line)"
        )
        if not is_sqlite(connection):
            connection.exec_driver_sql(f"ANALYZE {stage.name}")
        # 1. Duplicate keys within the file: the first row wins.
        earlier = stage.alias("earlier")
        duplicate = exists().where(
            *(earlier.c[name] == stage.c[name] for name in key_columns),
            earlier.c.line < stage.c.line,
        )
        self._reject_in_sql(
            connection,
            report,
            stage,
            duplicate,
            key_columns[0],
            Reason.DUPLICATE,
            "the same key appears on an earlier line of the file; that row was kept",
        )
        batch_id = report.batch_id
        now = func.now()
        if kind == PEOPLE:
            target = people_t
            data: tuple[str, ...] = (
                "name",
                "sex",
                "birth_date",
                "phone",
                "grid_code",
                "address",
                "household_id",
                "last_certified_on",
                "last_certification_channel",
            )
            changed = (
                update(target)
                .where(
                    target.c.id_number == stage.c.id_number,
                    or_(*(target.c[name].is_distinct_from(stage.c[name]) for name in data)),
                )
                .values(
                    {
                        **{name: stage.c[name] for name in data},
                        "batch_id": batch_id,
                        "updated_at": now,
                    }
                )
            )
            fresh = select(
                stage.c.pseudonym, stage.c.id_number, *(stage.c[name] for name in data)
            ).where(true())
            fresh = fresh.add_columns(_literal_batch(batch_id)).order_by(stage.c.line)
            insert_columns = ["pseudonym", "id_number", *data, "batch_id"]
            conflict_key = ["id_number"]
        elif kind == ENROLLMENTS:
            target = enrollments_t
            self._reject_in_sql(
                connection,
                report,
                stage,
                ~exists().where(people_t.c.id_number == stage.c.id_number),
                "id_number",
                Reason.UNKNOWN_PERSON,
                "the person is neither among the accepted rows of people.csv nor in the registry",
            )
            data = ("program", "start_date", "end_date", "monthly_amount", "status")
            changed = (
                update(target)
                .where(
                    target.c.external_ref == stage.c.external_ref,
                    people_t.c.id_number == stage.c.id_number,
                    or_(
                        target.c.person_id != people_t.c.person_id,
                        *(target.c[name].is_distinct_from(stage.c[name]) for name in data),
                    ),
                )
                .values(
                    {
                        **{name: stage.c[name] for name in data},
                        "person_id": people_t.c.person_id,
                        "batch_id": batch_id,
                        "updated_at": now,
                    }
                )
            )
            fresh = (
                select(stage.c.external_ref, people_t.c.person_id, *(stage.c[n] for n in data))
                .add_columns(_literal_batch(batch_id))
                .select_from(stage.join(people_t, people_t.c.id_number == stage.c.id_number))
                .where(true())
                .order_by(stage.c.line)
            )
            insert_columns = ["external_ref", "person_id", *data, "batch_id"]
            conflict_key = ["external_ref"]
        else:
            target = payments_t
            self._reject_in_sql(
                connection,
                report,
                stage,
                ~exists().where(enrollments_t.c.external_ref == stage.c.external_ref),
                "external_ref",
                Reason.UNKNOWN_ENROLLMENT,
                "the enrollment is neither among the accepted rows of enrollments.csv "
                "nor in the registry",
            )
            data = ("amount", "paid_on")
            changed = (
                update(target)
                .where(
                    target.c.enrollment_id == enrollments_t.c.enrollment_id,
                    enrollments_t.c.external_ref == stage.c.external_ref,
                    target.c.period == stage.c.period,
                    or_(*(target.c[name].is_distinct_from(stage.c[name]) for name in data)),
                )
                .values({**{name: stage.c[name] for name in data}, "batch_id": batch_id})
            )
            fresh = (
                select(enrollments_t.c.enrollment_id, stage.c.period, *(stage.c[n] for n in data))
                .add_columns(_literal_batch(batch_id))
                .select_from(
                    stage.join(enrollments_t, enrollments_t.c.external_ref == stage.c.external_ref)
                )
                .where(true())
                .order_by(stage.c.line)
            )
            insert_columns = ["enrollment_id", "period", *data, "batch_id"]
            conflict_key = ["enrollment_id", "period"]

        staged = connection.execute(select(func.count()).select_from(stage)).scalar_one()
        target_empty = (
            connection.execute(select(true()).select_from(target).limit(1)).first() is None
        )
        report.updated = 0 if target_empty else connection.execute(changed).rowcount
        dialect_insert = sqlite.insert if is_sqlite(connection) else postgresql.insert
        statement = (
            dialect_insert(target)
            .from_select(insert_columns, fresh)
            .on_conflict_do_nothing(index_elements=conflict_key)
        )
        report.inserted = connection.execute(
            statement.execution_options(preserve_rowcount=True)
        ).rowcount
        report.unchanged = staged - report.inserted - report.updated


def _literal_batch(batch_id: int | None) -> Any:
    from sqlalchemy import literal

    return literal(batch_id, Integer).label("batch_id")
