"""Validation of evidence records, vectorised.

A chunk of records (canonical columns as strings, evidence types already mapped, event times
already parsed) is checked column by column with numpy and pyarrow. Most ID numbers in a feed
are already canonical: those are checked in bulk on their bytes (17 digits and a check
character, region, birth date, check character computed with the GB 11643-1999 weights); only
the rest (a lowercase x, old 15-digit numbers, spaces, full-width digits, or plain bad ones) go
through the registry's `try_normalize_id_number` in Python, which also gives their reason.

A rejected record gets exactly one problem: the first failing check in the order record id,
ID number, event time, evidence type, other required fields. Reason codes are stable:
`missing_field`, the `IdRejection` codes of the registry, `bad_event_time`,
`future_event_time`, `event_time_too_old`, `unknown_evidence_type`,
`evidence_type_not_allowed`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from lifesign.catalog import Catalog
from lifesign.errors import LifesignError, Location
from lifesign.registry.ids import (
    CHECK_CHARACTERS,
    EARLIEST_BIRTH_YEAR,
    WEIGHTS,
    IdRejection,
    mask_id_number,
    mask_phone,
    try_normalize_id_number,
)

RULES_FILE = Path(__file__).parent / "data" / "ingest.yaml"

REQUIRED_FIELDS = ("record_id", "id_number", "event_time", "evidence_type")

Bools = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]


class Reason:
    """Reason codes of rejected evidence records (besides the `IdRejection` codes)."""

    MISSING_FIELD = "missing_field"
    BAD_EVENT_TIME = "bad_event_time"
    FUTURE_EVENT_TIME = "future_event_time"
    EVENT_TIME_TOO_OLD = "event_time_too_old"
    UNKNOWN_EVIDENCE_TYPE = "unknown_evidence_type"
    EVIDENCE_TYPE_NOT_ALLOWED = "evidence_type_not_allowed"


ID_REASONS = tuple(str(reason) for reason in IdRejection if reason != IdRejection.EMPTY)
ALL_REASONS = (
    Reason.MISSING_FIELD,
    *ID_REASONS,
    Reason.BAD_EVENT_TIME,
    Reason.FUTURE_EVENT_TIME,
    Reason.EVENT_TIME_TOO_OLD,
    Reason.UNKNOWN_EVIDENCE_TYPE,
    Reason.EVIDENCE_TYPE_NOT_ALLOWED,
)


class IngestRulesError(LifesignError):
    """The ingestion rules file is unusable."""


@dataclass(frozen=True)
class IngestRules:
    """The validation parameters in force for one source on one as-of date."""

    effective_from: dt.date
    future_event_tolerance_hours: float
    max_event_age_years: int
    required_when_mapped: tuple[str, ...]

    def latest_allowed(self, as_of: dt.date) -> dt.datetime:
        """The last instant (exclusive) an event may be dated."""
        end_of_day = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
        return end_of_day + dt.timedelta(hours=self.future_event_tolerance_hours)

    def earliest_allowed(self, as_of: dt.date) -> dt.datetime:
        try:
            start = as_of.replace(year=as_of.year - self.max_event_age_years)
        except ValueError:  # 29 February
            start = as_of.replace(year=as_of.year - self.max_event_age_years, day=28)
        return dt.datetime.combine(start, dt.time())


_RULE_KEYS = {"future_event_tolerance_hours", "max_event_age_years", "required_when_mapped"}


def _rule_problem(path: Path, key: str, problem: str) -> IngestRulesError:
    return IngestRulesError(
        f"the ingestion rules file {path.name} is invalid",
        problem,
        Location(file=str(path), key=key),
    )


def _check_values(path: Path, key: str, values: dict[str, Any]) -> None:
    unknown = set(values) - _RULE_KEYS - {"effective_from"}
    if unknown:
        raise _rule_problem(path, key, f"unknown key(s) {', '.join(sorted(unknown))}")
    hours = values.get("future_event_tolerance_hours", 0)
    if not isinstance(hours, int | float) or hours < 0:
        raise _rule_problem(path, f"{key}.future_event_tolerance_hours", "must be a number >= 0")
    years = values.get("max_event_age_years", 1)
    if not isinstance(years, int) or years < 1:
        raise _rule_problem(path, f"{key}.max_event_age_years", "must be a whole number >= 1")
    fields = values.get("required_when_mapped", [])
    optional = ("name", "birth_date", "phone", "place")
    if not isinstance(fields, list) or any(f not in optional for f in fields):
        raise _rule_problem(
            path, f"{key}.required_when_mapped", f"must be a list of {', '.join(optional)}"
        )


def load_rules(as_of: dt.date, source: str | None = None, path: Path | None = None) -> IngestRules:
    """The rules in force on `as_of` for `source` (per-source overrides applied)."""
    path = path or RULES_FILE
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise IngestRulesError(
            "cannot read the ingestion rules", str(error), Location(file=str(path))
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise _rule_problem(path, "rules", "a list of dated rule sets is required")
    in_force: dict[str, Any] | None = None
    for index, entry in enumerate(document["rules"]):
        key = f"rules[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("effective_from"), dt.date):
            raise _rule_problem(path, key, "each rule set needs effective_from: YYYY-MM-DD")
        _check_values(path, key, entry)
        if entry["effective_from"] <= as_of and (
            in_force is None or entry["effective_from"] > in_force["effective_from"]
        ):
            in_force = entry
    if in_force is None:
        raise _rule_problem(path, "rules", f"no rule set is in force on {as_of.isoformat()}")
    values = dict(in_force)
    overrides = (document.get("sources") or {}).get(source or "", None)
    if overrides:
        if not isinstance(overrides, dict):
            raise _rule_problem(path, f"sources.{source}", "must be a mapping")
        _check_values(path, f"sources.{source}", overrides)
        values.update(overrides)
    return IngestRules(
        effective_from=values["effective_from"],
        future_event_tolerance_hours=float(values.get("future_event_tolerance_hours", 0)),
        max_event_age_years=int(values.get("max_event_age_years", 30)),
        required_when_mapped=tuple(values.get("required_when_mapped", ())),
    )


# ---------------------------------------------------------------------------------------------
# ID numbers in bulk.

_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)
_CHECK_BYTES = np.frombuffer(CHECK_CHARACTERS.encode("ascii"), dtype=np.uint8)
_POWERS = 10 ** np.arange(16, -1, -1, dtype=np.int64)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_X = ord("X")
_ZERO = ord("0")


def _string_array(values: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type == pa.large_string():
        values = values.cast(pa.string())
    assert isinstance(values, pa.StringArray)
    return values


def _matrix18(values: pa.StringArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8]]:
    """Indices of the non-null values that are exactly 18 bytes, and their bytes (m × 18)."""
    n = len(values)
    offsets_buffer, data_buffer = values.buffers()[1], values.buffers()[2]
    if offsets_buffer is None or data_buffer is None or n == 0:
        return np.empty(0, dtype=np.intp), np.empty((0, 18), dtype=np.uint8)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[values.offset : values.offset + n + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    lengths = np.diff(offsets)
    candidates = lengths == 18
    if values.null_count:
        candidates &= values.is_valid().to_numpy(zero_copy_only=False)
    index = np.flatnonzero(candidates)
    matrix = data[offsets[:-1][index, None] + np.arange(18)]
    return index, matrix


def _canonical_rows(matrix: npt.NDArray[np.uint8], as_of: dt.date) -> Bools:
    """Which rows of an m × 18 byte matrix are canonical valid ID numbers."""
    digits = matrix.astype(np.int64) - _ZERO
    first17 = digits[:, :17]
    ok = ((first17 >= 0) & (first17 <= 9)).all(axis=1)
    last = matrix[:, 17]
    ok &= ((last >= _ZERO) & (last <= _ZERO + 9)) | (last == _X)
    ok &= digits[:, 0] != 0
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    month_ok = (month >= 1) & (month <= 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    ok &= month_ok & (day >= 1) & (day <= days) & (year >= EARLIEST_BIRTH_YEAR)
    ok &= year * 10000 + month * 100 + day <= as_of.year * 10000 + as_of.month * 100 + as_of.day
    total = (np.where(ok[:, None], first17, 0) * _WEIGHTS).sum(axis=1) % 11
    ok &= _CHECK_BYTES[total] == last
    return np.asarray(ok, dtype=bool)


def id_keys(canonical: pa.Array | pa.ChunkedArray) -> I64:
    """A unique int64 of each canonical 18-character ID number (first 17 digits × 11 + check
    value, X = 10): the registry join runs on these integers. Nulls (and anything not 18
    bytes) get -1."""
    values = _string_array(canonical)
    keys = np.full(len(values), -1, dtype=np.int64)
    index, matrix = _matrix18(values)
    if index.size:
        digits = matrix[:, :17].astype(np.int64) - _ZERO
        last = matrix[:, 17].astype(np.int64)
        check = np.where(last == _X, 10, last - _ZERO)
        keys[index] = (digits * _POWERS).sum(axis=1) * 11 + check
    return keys


@dataclass
class IdResult:
    canonical: pa.StringArray  # normalised ID numbers, null where rejected
    ok: Bools
    reasons: dict[int, tuple[str, str]]  # row index -> (reason, message) of rejected ones


def normalise_ids(values: pa.Array | pa.ChunkedArray, as_of: dt.date) -> IdResult:
    """Normalise a column of ID numbers: bulk check of canonical ones, Python for the rest."""
    array = _string_array(values)
    n = len(array)
    ok = np.zeros(n, dtype=bool)
    index, matrix = _matrix18(array)
    if index.size:
        ok[index[_canonical_rows(matrix, as_of)]] = True
    slow = np.flatnonzero(~ok)
    reasons: dict[int, tuple[str, str]] = {}
    if not slow.size:
        return IdResult(array, ok, reasons)
    raw_values = array.take(pa.array(slow)).to_pylist()
    fixed: list[str | None] = []
    for position, raw in zip(slow.tolist(), raw_values, strict=True):
        normalised, error = try_normalize_id_number(raw, today=as_of)
        if error is None:
            ok[position] = True
        elif error.reason == IdRejection.EMPTY:
            reasons[position] = (Reason.MISSING_FIELD, "the ID number is required")
        else:
            reasons[position] = (str(error.reason), error.message)
        fixed.append(normalised)
    mask = np.zeros(n, dtype=bool)
    mask[slow] = True
    canonical = pc.replace_with_mask(array, pa.array(mask), pa.array(fixed, pa.string()))
    return IdResult(_string_array(canonical), ok, reasons)


# ---------------------------------------------------------------------------------------------
# Records.


def mask_value(field: str | None, value: str | None) -> str | None:
    """A value as it may be shown: ID numbers, phones and names masked, long text cut."""
    if value is None:
        return None
    if field == "id_number":
        return mask_id_number(value)
    if field == "phone":
        return mask_phone(value)
    if field == "name":
        return value[:1] + "*" * max(len(value) - 1, 1) if value else value
    return value[:256]


@dataclass(frozen=True)
class Problem:
    """Why one record (by index in its chunk) was rejected. `value` is masked."""

    index: int
    field: str | None
    value: str | None
    reason: str
    message: str


@dataclass
class Validated:
    ok: Bools  # records that passed every check
    canonical_ids: pa.StringArray
    problems: list[Problem]


def _blank(column: pa.Array | pa.ChunkedArray | None, n: int) -> Bools:
    """Null or empty (after trimming) values of a string column; all when it is absent."""
    if column is None:
        return np.ones(n, dtype=bool)
    trimmed = pc.utf8_trim_whitespace(column)
    empty = pc.or_kleene(pc.is_null(trimmed), pc.equal(trimmed, ""))
    return np.asarray(pc.fill_null(empty, True).to_numpy(zero_copy_only=False), dtype=bool)


def _seconds(times: pa.Array | pa.ChunkedArray) -> tuple[I64, Bools]:
    """Epoch seconds of a timestamp column and its validity mask."""
    cast = times.cast(pa.timestamp("s"))
    valid = np.asarray(pc.is_valid(cast).to_numpy(zero_copy_only=False), dtype=bool)
    seconds = pc.fill_null(cast.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    return np.asarray(seconds, dtype=np.int64), valid


def _epoch(moment: dt.datetime) -> int:
    return int((moment - dt.datetime(1970, 1, 1)).total_seconds())


def validate_chunk(
    table: pa.Table,
    *,
    evidence_types: pa.Array | pa.ChunkedArray,
    event_times: pa.Array | pa.ChunkedArray,
    department: str,
    catalog: Catalog,
    rules: IngestRules,
    as_of: dt.date,
) -> Validated:
    """Check every record of `table` (canonical string columns of one chunk).

    `evidence_types` are the mapped catalog codes (null where the department's value is not
    mapped), `event_times` the parsed times (null where unparsable).
    """
    n = table.num_rows
    names = set(table.column_names)
    rejected = np.zeros(n, dtype=bool)
    problems: list[Problem] = []

    def column(name: str) -> pa.ChunkedArray | None:
        return table.column(name) if name in names else None

    def reject(mask: Bools, field: str, reason: str, message: str, masked: bool = True) -> None:
        fresh = np.flatnonzero(mask & ~rejected)
        if not fresh.size:
            return
        rejected[fresh] = True
        source = column(field)
        values: list[Any] = (
            source.take(pa.array(fresh)).to_pylist() if source is not None else [None] * fresh.size
        )
        for index, value in zip(fresh.tolist(), values, strict=True):
            shown = mask_value(field, value) if masked else value
            problems.append(Problem(index, field, shown, reason, message))

    # 1. record id
    reject(
        _blank(column("record_id"), n), "record_id", Reason.MISSING_FIELD, "record_id is required"
    )

    # 2. ID number
    id_column = column("id_number")
    if id_column is None:
        ids = IdResult(pa.nulls(n, pa.string()), np.zeros(n, dtype=bool), {})
        reject(
            np.ones(n, dtype=bool), "id_number", Reason.MISSING_FIELD, "the ID number is required"
        )
    else:
        ids = normalise_ids(id_column, as_of)
        for index, (reason, message) in sorted(ids.reasons.items()):
            single = np.zeros(n, dtype=bool)
            single[index] = True
            reject(single, "id_number", reason, message)

    # 3. event time
    raw_time_blank = _blank(column("event_time"), n)
    reject(raw_time_blank, "event_time", Reason.MISSING_FIELD, "event_time is required")
    seconds, parsed = _seconds(event_times)
    reject(
        ~parsed,
        "event_time",
        Reason.BAD_EVENT_TIME,
        "the event time does not match the source's date formats",
    )
    latest = rules.latest_allowed(as_of)
    reject(
        parsed & (seconds >= _epoch(latest)),
        "event_time",
        Reason.FUTURE_EVENT_TIME,
        f"the event time is after the as-of date {as_of.isoformat()}"
        + (
            f" plus {rules.future_event_tolerance_hours:g} h"
            if rules.future_event_tolerance_hours
            else ""
        ),
    )
    earliest = rules.earliest_allowed(as_of)
    reject(
        parsed & (seconds < _epoch(earliest)),
        "event_time",
        Reason.EVENT_TIME_TOO_OLD,
        f"the event time is more than {rules.max_event_age_years} years before the as-of date "
        f"(before {earliest.date().isoformat()})",
    )

    # 4. evidence type
    reject(
        _blank(column("evidence_type"), n),
        "evidence_type",
        Reason.MISSING_FIELD,
        "the evidence type is required",
    )
    types = evidence_types.cast(pa.string())
    known_codes = pa.array(sorted(catalog.evidence_types), pa.string())
    known = np.asarray(
        pc.fill_null(pc.is_in(types, value_set=known_codes), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    reject(
        ~known,
        "evidence_type",
        Reason.UNKNOWN_EVIDENCE_TYPE,
        "the value is not mapped to an evidence type of the catalog by the source definition",
    )
    allowed_codes = pa.array(
        sorted(c for c, t in catalog.evidence_types.items() if t.department == department),
        pa.string(),
    )
    allowed = np.asarray(
        pc.fill_null(pc.is_in(types, value_set=allowed_codes), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    reject(
        ~allowed,
        "evidence_type",
        Reason.EVIDENCE_TYPE_NOT_ALLOWED,
        f"this evidence type is not supplied by the department {department!r} in the catalog",
    )

    # 5. other required fields the source maps
    for name in rules.required_when_mapped:
        if name in names:
            reject(_blank(column(name), n), name, Reason.MISSING_FIELD, f"{name} is required")

    problems.sort(key=lambda p: p.index)
    return Validated(ok=~rejected & ids.ok, canonical_ids=ids.canonical, problems=problems)
