"""Load and check `shapes.yaml`: how each department's feed looks on disk.

A `FeedShape` is everything the ingestion needs to read a feed back (issue 3's source
definition): format, encoding, file naming, the mapping of its columns to canonical fields,
and the mapping of its type values to evidence types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

CANONICAL_FIELDS = (
    "record_id",
    "id_number",
    "evidence_type",
    "event_time",
    "name",
    "birth_date",
    "phone",
    "place",
)
EXTRA_KINDS = ("amount", "choice", "death_date", "sex", "code", "account")
FORMATS = ("csv", "xlsx", "jsonl")
ENCODINGS = ("utf-8", "utf-8-sig", "gbk")
PERIODS = ("daily", "monthly")
DATE_COLUMNS = ("event_time", "birth_date", "death_date")


class ShapeError(ValueError):
    """A problem in the shapes file, naming the feed and key."""


@dataclass(frozen=True)
class ColumnShape:
    name: str
    field: str | None = None  # canonical field, or None for an extra column
    extra: str | None = None  # kind of extra column
    format: str | None = None  # strftime pattern or "excel" for date columns
    prefix: str = ""
    width: int = 0
    values: tuple[str, ...] = ()
    min: float = 0.0
    max: float = 0.0
    decimals: int = 2

    @property
    def role(self) -> str:
        """The canonical field or the extra kind: what fills this column."""
        return self.field or self.extra or ""


@dataclass(frozen=True)
class FeedShape:
    source: str
    department: str
    name_zh: str
    format: str
    encoding: str
    period: str
    file: str
    columns: tuple[ColumnShape, ...]
    types: dict[str, str] = field(default_factory=dict)  # department value -> evidence type
    type_column: str | None = None
    fixed_type: str | None = None
    sheet: str = "Sheet1"

    @property
    def evidence_types(self) -> tuple[str, ...]:
        """The evidence types this feed carries, in a fixed order."""
        if self.fixed_type:
            return (self.fixed_type,)
        return tuple(self.types.values())

    @property
    def type_values(self) -> tuple[str, ...]:
        """The department's own value for each of `evidence_types` (same order)."""
        if self.fixed_type:
            return (self.fixed_type,)
        return tuple(self.types.keys())

    def column(self, role: str) -> ColumnShape | None:
        for col in self.columns:
            if col.role == role:
                return col
        return None

    def file_for(self, period_key: str) -> str:
        """File path for a period key (YYYYMMDD for daily feeds, YYYYMM for monthly)."""
        return self.file.replace("{yyyymmdd}", period_key).replace("{yyyymm}", period_key)

    def source_definition(self) -> dict[str, Any]:
        """The feed as an ingestion source definition (issue 3): plain data."""
        mapping = {c.field: c.name for c in self.columns if c.field}
        formats = {c.name: c.format for c in self.columns if c.format}
        return {
            "source": self.source,
            "department": self.department,
            "format": self.format,
            "encoding": self.encoding,
            "file_pattern": self.file,
            "sheet": self.sheet if self.format == "xlsx" else None,
            "columns": mapping,
            "type_column": self.type_column,
            "types": dict(self.types) if self.type_column else None,
            "fixed_type": self.fixed_type,
            "date_formats": formats,
        }


def _need(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise ShapeError(f"{where}: missing key {key!r}")
    return raw[key]


def _column(raw: Mapping[str, Any], where: str) -> ColumnShape:
    name = str(_need(raw, "name", where))
    where = f"{where}, column {name!r}"
    fld, extra = raw.get("field"), raw.get("extra")
    if (fld is None) == (extra is None):
        raise ShapeError(f"{where}: give exactly one of 'field' and 'extra'")
    if fld is not None and fld not in CANONICAL_FIELDS:
        raise ShapeError(f"{where}: unknown canonical field {fld!r}")
    if extra is not None and extra not in EXTRA_KINDS:
        raise ShapeError(f"{where}: unknown extra kind {extra!r}")
    role = fld or extra
    fmt = raw.get("format")
    if role in DATE_COLUMNS and not fmt:
        raise ShapeError(f"{where}: date column needs a 'format'")
    if role in ("choice",) and not raw.get("values"):
        raise ShapeError(f"{where}: needs 'values'")
    return ColumnShape(
        name=name,
        field=fld,
        extra=extra,
        format=str(fmt) if fmt else None,
        prefix=str(raw.get("prefix", "")),
        width=int(raw.get("width", 0)),
        values=tuple(str(v) for v in raw.get("values", ())),
        min=float(raw.get("min", 0)),
        max=float(raw.get("max", 0)),
        decimals=int(raw.get("decimals", 2)),
    )


def _feed(raw: Mapping[str, Any]) -> FeedShape:
    source = str(_need(raw, "source", "feed"))
    where = f"shapes.yaml, feed {source!r}"
    fmt, enc, period = raw.get("format"), raw.get("encoding"), raw.get("period")
    if fmt not in FORMATS:
        raise ShapeError(f"{where}: format must be one of {FORMATS}, not {fmt!r}")
    if enc not in ENCODINGS:
        raise ShapeError(f"{where}: encoding must be one of {ENCODINGS}, not {enc!r}")
    if period not in PERIODS:
        raise ShapeError(f"{where}: period must be one of {PERIODS}, not {period!r}")
    if fmt == "jsonl" and enc != "utf-8":
        raise ShapeError(f"{where}: JSON lines are UTF-8")
    file = str(_need(raw, "file", where))
    token = "{yyyymmdd}" if period == "daily" else "{yyyymm}"
    if token not in file:
        raise ShapeError(f"{where}: file pattern of a {period} feed needs {token}")
    columns = tuple(_column(c, where) for c in _need(raw, "columns", where))
    roles = [c.role for c in columns]
    for needed in ("record_id", "id_number", "event_time"):
        if needed not in roles:
            raise ShapeError(f"{where}: no column for canonical field {needed!r}")
    type_column, fixed = raw.get("type_column"), raw.get("fixed_type")
    types = {str(k): str(v) for k, v in (raw.get("types") or {}).items()}
    if (type_column is None) == (fixed is None):
        raise ShapeError(f"{where}: give exactly one of 'type_column' and 'fixed_type'")
    if type_column is not None:
        if not types:
            raise ShapeError(f"{where}: 'type_column' needs 'types'")
        col = next((c for c in columns if c.name == type_column), None)
        if col is None or col.field != "evidence_type":
            raise ShapeError(f"{where}: type_column {type_column!r} is not an evidence_type column")
    elif "evidence_type" in roles:
        raise ShapeError(f"{where}: a fixed_type feed has no evidence_type column")
    for col in columns:
        if col.format == "excel" and fmt != "xlsx":
            raise ShapeError(f"{where}, column {col.name!r}: 'excel' dates only in xlsx")
    return FeedShape(
        source=source,
        department=str(_need(raw, "department", where)),
        name_zh=str(raw.get("name_zh", source)),
        format=str(fmt),
        encoding=str(enc),
        period=str(period),
        file=file,
        columns=columns,
        types=types,
        type_column=str(type_column) if type_column else None,
        fixed_type=str(fixed) if fixed else None,
        sheet=str(raw.get("sheet", "Sheet1")),
    )


def load_shapes(path: Path | None = None) -> tuple[FeedShape, ...]:
    """Read the shapes file (the packaged one by default)."""
    if path is None:
        text = resources.files(__package__).joinpath("shapes.yaml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    raw = yaml.safe_load(text)
    feeds = tuple(_feed(f) for f in raw["feeds"])
    seen: set[str] = set()
    for f in feeds:
        if f.source in seen:
            raise ShapeError(f"shapes.yaml: feed {f.source!r} appears twice")
        seen.add(f.source)
    return feeds


def check_shapes(
    feeds: Iterable[FeedShape],
    departments: Iterable[str],
    evidence_departments: Mapping[str, str],
) -> None:
    """Check the feeds against the catalog: known departments and types, every type carried
    by a feed of its own department, every department sending something."""
    feeds = tuple(feeds)
    depts = set(departments)
    carried: dict[str, str] = {}
    for f in feeds:
        where = f"shapes.yaml, feed {f.source!r}"
        if f.department not in depts:
            raise ShapeError(f"{where}: unknown department {f.department!r}")
        for code in f.evidence_types:
            if code not in evidence_departments:
                raise ShapeError(f"{where}: unknown evidence type {code!r}")
            if evidence_departments[code] != f.department:
                raise ShapeError(
                    f"{where}: evidence type {code!r} belongs to "
                    f"{evidence_departments[code]!r}, not {f.department!r}"
                )
            if code in carried:
                raise ShapeError(f"{where}: evidence type {code!r} already in {carried[code]!r}")
            carried[code] = f.source
    missing = sorted(set(evidence_departments) - set(carried))
    if missing:
        raise ShapeError(f"shapes.yaml: no feed carries evidence types {missing}")
    silent = sorted(depts - {f.department for f in feeds})
    if silent:
        raise ShapeError(f"shapes.yaml: departments without a feed: {silent}")
