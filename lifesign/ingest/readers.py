"""Streaming readers: a department's file, in chunks of canonical columns, with bounded memory.

`read_records(source, path)` yields `RawChunk`s: an Arrow table of the canonical fields the
source maps (renamed, as text, trimmed, empty -> null; `evidence_type` holds the department's
own value, or the source's fixed type), the `row` each record came from (CSV/JSON lines: the
physical line, header = line 1; XLSX: the sheet row; Parquet: the ordinal from 1) and `raw`,
the record as compact JSON in the department's own column names (what a data manager sees and
fixes in quarantine). Rows that cannot be parsed at all are not in the table: they are
`problems` of the chunk (wrong column count, invalid JSON, undecodable bytes).

A file whose header lacks a column the definition needs is refused whole (`ReaderError`)
before any record is yielded.

CSV is parsed by Arrow as bytes (GBK and GB18030 never use the bytes of `,`, `"` or a newline
inside a character, so splitting the raw bytes is safe) and only the columns that hold
non-ASCII text are decoded, value by distinct value. A file with an irregular row (wrong
column count, a quoted value spanning lines) is re-read from that block on with Python's csv
module, which knows every row's line exactly.
"""

from __future__ import annotations

import codecs
import csv
import functools
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from lifesign.errors import LifesignError, Location
from lifesign.ingest.sources import CANONICAL_FIELDS, EXCEL, SourceDefinition
from lifesign.registry.csvfiles import GB18030, UTF8_BOM, detect_encoding


def _remember_missing_optional_modules() -> None:
    """pyarrow tries to import dateutil (optional) on many calls; when it is not
    installed each failed attempt searches sys.path again (~0.1 ms, much of reading a small
    file). Recording it as absent makes the attempt fail at once."""
    for name in ("dateutil",):
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = None  # type: ignore[assignment]


_remember_missing_optional_modules()

DEFAULT_CHUNK_ROWS = 50_000
_SNIFF_BYTES = 1 << 16
_MIN_BLOCK = 1 << 20
_MAX_BLOCK = 32 << 20

WRONG_COLUMN_COUNT = "wrong_column_count"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
UNDECODABLE = "undecodable"


@dataclass(frozen=True)
class ReaderProblem:
    """A row that could not be read at all. `raw` is its text, for the data manager."""

    row: int
    field: str | None
    value: str | None
    reason: str
    message: str
    raw: str | None = None


@dataclass
class RawChunk:
    """Canonical columns (strings) + `row` (int64) + `raw` (string), and unreadable rows."""

    table: pa.Table
    problems: list[ReaderProblem] = field(default_factory=list)


class ReaderError(LifesignError):
    """The whole file is refused (nothing of it was read)."""


def chunk_schema(source: SourceDefinition) -> pa.Schema:
    """The schema of every chunk's table for `source`."""
    names = [f for f in CANONICAL_FIELDS if f in source.columns or f == "evidence_type"]
    return pa.schema(
        [pa.field(n, pa.string()) for n in names]
        + [pa.field("row", pa.int64()), pa.field("raw", pa.string())]
    )


def read_records(
    source: SourceDefinition, path: Path, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[RawChunk]:
    """Stream `path` as chunks of at most `chunk_rows` records (see the module docstring)."""
    path = Path(path)
    if source.format == "csv":
        frames: Iterator[_Frame] = _csv_frames(source, path, chunk_rows)
    elif source.format == "jsonl":
        frames = _jsonl_frames(source, path, chunk_rows)
    elif source.format == "xlsx":
        frames = _xlsx_frames(source, path, chunk_rows)
    elif source.format == "parquet":
        frames = _parquet_frames(source, path, chunk_rows)
    else:
        raise ReaderError(
            f"source {source.code!r} has format {source.format!r}, which is not read from files",
            "database sources are pulled: lifesign ingest pull",
            Location(file=path.name),
        )
    return _Assembler(source, path, chunk_rows).chunks(frames)


# --------------------------------------------------------------------------------------------
# Frames: what every reader produces before renaming
# --------------------------------------------------------------------------------------------


@dataclass
class _Frame:
    """Some rows of a file: the department's columns (string arrays, in header order), the
    line of each row, and the problems met since the previous frame."""

    names: list[str]
    arrays: list[pa.Array]
    lines: np.ndarray[Any, np.dtype[np.int64]]
    problems: list[ReaderProblem] = field(default_factory=list)
    undecodable: pa.Array | None = None  # bool per row: drop (already a problem)
    raw: list[str] | None = None  # the records' JSON when the format has it already


class _Assembler:
    """Turns frames into chunks: drops blank rows, renames, adds `row` and `raw`, re-slices."""

    def __init__(self, source: SourceDefinition, path: Path, chunk_rows: int) -> None:
        self.source = source
        self.path = path
        self.chunk_rows = max(1, chunk_rows)
        self.schema = chunk_schema(source)

    def chunks(self, frames: Iterator[_Frame]) -> Iterator[RawChunk]:
        pending: list[pa.Table] = []
        pending_rows = 0
        problems: list[ReaderProblem] = []
        emitted = False
        for frame in frames:
            problems.extend(frame.problems)
            table = self._table(frame)
            if table.num_rows:
                pending.append(table)
                pending_rows += table.num_rows
            while pending_rows >= self.chunk_rows:
                whole = pa.concat_tables(pending)
                yield RawChunk(whole.slice(0, self.chunk_rows).combine_chunks(), problems)
                emitted = True
                problems = []
                rest = whole.slice(self.chunk_rows)
                pending = [rest] if rest.num_rows else []
                pending_rows = rest.num_rows
        if pending_rows or problems or not emitted:
            table = pa.concat_tables(pending) if pending else self.schema.empty_table()
            yield RawChunk(table.combine_chunks(), problems)

    def _table(self, frame: _Frame) -> pa.Table:
        n = len(frame.lines)
        if n == 0:
            return self.schema.empty_table()
        keep = _not_blank(frame.arrays)
        if frame.undecodable is not None:
            keep = pc.and_(keep, pc.invert(frame.undecodable))
        by_name = dict(zip(frame.names, frame.arrays, strict=True))
        columns: dict[str, pa.Array] = {}
        for name in self.schema.names:
            if name in ("row", "raw"):
                continue
            if name == "evidence_type" and self.source.fixed_type:
                columns[name] = pa.array(
                    np.full(n, self.source.fixed_type, dtype=object), pa.string()
                )
                continue
            column = self.source.columns.get(name)
            array = by_name.get(column) if column is not None else None
            columns[name] = _clean(array) if array is not None else pa.nulls(n, pa.string())
        columns["row"] = pa.array(frame.lines, pa.int64())
        columns["raw"] = (
            pa.array(frame.raw, pa.string())
            if frame.raw is not None
            else raw_json(frame.names, frame.arrays)
        )
        table = pa.table(columns, schema=self.schema)
        if pc.all(keep).as_py() is not True:
            table = table.filter(keep)
        return table


def _not_blank(arrays: Sequence[pa.Array]) -> pa.Array:
    """True for rows with at least one non-empty value."""
    filled: pa.Array | None = None
    for array in arrays:
        has = pc.fill_null(pc.greater(pc.binary_length(array), 0), False)
        filled = has if filled is None else pc.or_(filled, has)
    assert filled is not None
    return filled


def _clean(array: pa.Array) -> pa.Array:
    """Trimmed text, empty -> null."""
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(trimmed, _scalar("")), _scalar(None), trimmed)


@functools.lru_cache(maxsize=4096)
def _scalar(text: str | None) -> pa.Scalar:
    """A cached Arrow string scalar: passing Python str to a compute function converts it on
    every call, which costs more than the kernel itself on small chunks."""
    return pa.scalar(text, pa.string())


def raw_json(names: Sequence[str], arrays: Sequence[pa.Array]) -> pa.Array:
    """Each row as compact JSON {"name": "value", ...} (null for a missing value), exactly as
    `json.dumps(record, ensure_ascii=False, separators=(",", ":"))` writes it."""
    if not names:
        return pa.array([], pa.string())
    keys = [json.dumps(name, ensure_ascii=False) for name in names]
    plain = all(a.null_count == 0 and not _buffer_has(a, _needs_escape) for a in arrays)
    pieces: list[Any] = []
    if plain:  # the common case: one join, the quotes inside the literal pieces
        for i, (key, array) in enumerate(zip(keys, arrays, strict=True)):
            pieces.append(_scalar(("{" if i == 0 else '",') + key + ':"'))
            pieces.append(array)
        pieces.append(_scalar('"}'))
    else:
        for i, (key, array) in enumerate(zip(keys, arrays, strict=True)):
            pieces.append(_scalar(("{" if i == 0 else ",") + key + ":"))
            pieces.append(_json_value(array))
        pieces.append(_scalar("}"))
    joined = pc.binary_join_element_wise(*pieces, _scalar(""))
    return joined.cast(pa.string())


def _json_value(array: pa.Array) -> pa.Array:
    if _buffer_has(array, _needs_escape):
        escaped = pa.array(
            [None if v is None else json.dumps(v, ensure_ascii=False) for v in array.to_pylist()],
            pa.string(),
        )
    else:
        escaped = pc.binary_join_element_wise(_scalar('"'), array, _scalar('"'), _scalar(""))
    return pc.fill_null(escaped, _scalar("null"))


def _buffer_has(
    array: pa.Array, needs: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]
) -> bool:
    """Does any byte of the values of a string/binary array satisfy `needs`? One vectorised
    scan of its data buffer (bytes outside a slice may give a false yes: callers then take a
    slow path that is right either way)."""
    data = array.buffers()[2]
    if data is None or data.size == 0:
        return False
    return bool(needs(np.frombuffer(data, dtype=np.uint8)).any())


def _needs_escape(data: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Bytes that JSON escapes: control characters, the quote and the backslash."""
    found: np.ndarray[Any, Any] = (data < 0x20) | (data == 0x22) | (data == 0x5C)
    return found


def _line_break(data: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    found: np.ndarray[Any, Any] = (data == 0x0A) | (data == 0x0D)
    return found


def _missing_columns(source: SourceDefinition, header: Sequence[str], path: Path) -> None:
    present = set(header)
    missing = [
        f"{column} ({canonical})"
        for canonical, column in source.required_columns.items()
        if column not in present
    ]
    if missing:
        raise ReaderError(
            f"the file lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"that source {source.code!r} needs",
            f"its header has: {', '.join(header) or 'nothing'}; nothing of the file was read",
            Location(file=str(path), line=1),
        )


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def _csv_encoding(source: SourceDefinition, path: Path) -> str:
    """The Python codec to decode with: GBK is read as GB18030 (its superset); UTF-8 as
    utf-8-sig (a BOM is dropped when present)."""
    declared = source.encoding
    if declared == "auto":
        declared = detect_encoding(path)
    if declared in ("gbk", "gb18030", GB18030):
        return GB18030
    return UTF8_BOM


def _csv_header(path: Path, encoding: str) -> tuple[list[str], int]:
    """The header's cells and the average line length in bytes (from the first 64 KiB)."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    end = head.find(b"\n")
    first = head if end < 0 else head[:end]
    try:
        text = first.decode(encoding)
    except UnicodeDecodeError as error:
        raise ReaderError(
            f"the header is not valid {encoding}",
            f"{error.reason}; save the file as UTF-8 or GBK",
            Location(file=str(path), line=1),
        ) from None
    cells = next(csv.reader([text.lstrip("\ufeff").rstrip("\r")]), [])
    header = [c.strip() for c in cells]
    if not any(header):
        raise ReaderError(
            "the file has no header row",
            "the first line must name the columns",
            Location(file=str(path), line=1),
        )
    lines = max(1, head.count(b"\n"))
    return header, max(16, len(head) // lines)


def _csv_frames(source: SourceDefinition, path: Path, chunk_rows: int) -> Iterator[_Frame]:
    encoding = _csv_encoding(source, path)
    header, line_bytes = _csv_header(path, encoding)
    _missing_columns(source, header, path)
    return _CsvReader(path, header, encoding, line_bytes * chunk_rows).frames()


class _CsvReader:
    def __init__(self, path: Path, header: list[str], encoding: str, block_bytes: int) -> None:
        self.path = path
        self.header = header
        self.encoding = encoding
        self.block = min(_MAX_BLOCK, max(_MIN_BLOCK, block_bytes))

    def frames(self) -> Iterator[_Frame]:
        width = len(self.header)
        internal = [f"c{i}" for i in range(width)]
        next_line = 2  # the header is line 1
        try:
            reader = pa_csv.open_csv(
                self.path,
                read_options=pa_csv.ReadOptions(
                    column_names=internal, skip_rows=1, block_size=self.block, use_threads=False
                ),
                parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),
                convert_options=pa_csv.ConvertOptions(
                    column_types={c: pa.binary() for c in internal},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    check_utf8=False,
                ),
            )
        except pa.ArrowInvalid:  # an irregular row in the first block
            yield from self._exact_frames(next_line)
            return
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid:
                    break  # an irregular row (wrong column count) in this block
                arrays = list(batch.columns)
                if _spans_lines(arrays):
                    break  # a quoted value over several lines: physical lines != rows
                n = batch.num_rows
                lines = np.arange(next_line, next_line + n, dtype=np.int64)
                next_line += n
                yield self._decoded(arrays, lines)
        finally:
            reader.close()
        # Re-read from the first line of the irregular block with the csv module.
        yield from self._exact_frames(next_line)

    def _decoded(self, arrays: list[pa.Array], lines: np.ndarray[Any, Any]) -> _Frame:
        decoded: list[pa.Array] = []
        bad: pa.Array | None = None
        for array in arrays:
            text, failed = _decode_column(array, self.encoding)
            decoded.append(text)
            if failed is not None:
                bad = failed if bad is None else pc.or_(bad, failed)
        problems: list[ReaderProblem] = []
        if bad is not None:
            for index in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
                problems.append(
                    ReaderProblem(
                        row=int(lines[index]),
                        field=None,
                        value=None,
                        reason=UNDECODABLE,
                        message=f"the line is not valid {self.encoding}; "
                        "save the file in one encoding (UTF-8 or GBK)",
                    )
                )
        return _Frame(self.header, decoded, lines, problems, bad)

    def _exact_frames(self, start_line: int) -> Iterator[_Frame]:
        """Rows from `start_line` on, read with the csv module (exact lines, any oddity)."""
        width = len(self.header)
        rows_by_column: list[list[str]] = [[] for _ in range(width)]
        lines: list[int] = []
        problems: list[ReaderProblem] = []
        limit = max(1000, self.block // 64)
        with self.path.open(encoding=self.encoding, errors="replace", newline="") as handle:
            reader = csv.reader(handle)
            previous_end = 0
            for row in reader:
                line = previous_end + 1
                previous_end = reader.line_num
                if line < start_line:
                    continue
                if not row or (len(row) == 1 and not row[0].strip() and width > 1):
                    continue  # a blank line
                text = ",".join(row)
                if len(row) != width:
                    problems.append(
                        ReaderProblem(
                            row=line,
                            field=None,
                            value=None,
                            reason=WRONG_COLUMN_COUNT,
                            message=f"expected {width} columns as in the header, found {len(row)}",
                            raw=text,
                        )
                    )
                    continue
                if "\ufffd" in text:
                    problems.append(
                        ReaderProblem(
                            row=line,
                            field=None,
                            value=None,
                            reason=UNDECODABLE,
                            message=f"the line is not valid {self.encoding}; "
                            "save the file in one encoding (UTF-8 or GBK)",
                            raw=text,
                        )
                    )
                    continue
                for i, cell in enumerate(row):
                    rows_by_column[i].append(cell)
                lines.append(line)
                if len(lines) >= limit:
                    yield self._frame_of(rows_by_column, lines, problems)
                    rows_by_column = [[] for _ in range(width)]
                    lines, problems = [], []
        if lines or problems:
            yield self._frame_of(rows_by_column, lines, problems)

    def _frame_of(
        self, columns: list[list[str]], lines: list[int], problems: list[ReaderProblem]
    ) -> _Frame:
        arrays = [pa.array(c, pa.string()) for c in columns]
        return _Frame(self.header, arrays, np.array(lines, dtype=np.int64), problems)


def _spans_lines(arrays: Sequence[pa.Array]) -> bool:
    """Does any value hold a line break (a quoted value over several physical lines)?"""
    return any(_buffer_has(array, _line_break) for array in arrays)


def _decode_column(array: pa.Array, encoding: str) -> tuple[pa.Array, pa.Array | None]:
    """Binary cells -> text, and a bool mask of undecodable cells (None: all decoded)."""
    as_text = array.view(pa.string())
    if encoding == UTF8_BOM:
        try:
            return array.cast(pa.string()), None
        except pa.ArrowInvalid:
            return _decode_distinct(array, "utf-8")
    if pc.all(pc.string_is_ascii(as_text)).as_py() is not False:
        return as_text, None
    return _decode_distinct(array, encoding)


def _decode_distinct(array: pa.Array, encoding: str) -> tuple[pa.Array, pa.Array | None]:
    """Decode each distinct value once (department columns repeat a lot)."""
    encoded = pc.dictionary_encode(array)
    failed: list[bool] = []
    texts: list[str | None] = []
    for value in encoded.dictionary.to_pylist():
        try:
            texts.append(value.decode(encoding))
            failed.append(False)
        except UnicodeDecodeError:
            texts.append(None)
            failed.append(True)
    text = pc.take(pa.array(texts, pa.string()), encoded.indices)
    if not any(failed):
        return text, None
    mask = pc.fill_null(pc.take(pa.array(failed, pa.bool_()), encoded.indices), False)
    return text, mask


# --------------------------------------------------------------------------------------------
# JSON lines
# --------------------------------------------------------------------------------------------


def _jsonl_frames(source: SourceDefinition, path: Path, chunk_rows: int) -> Iterator[_Frame]:
    wanted = list(dict.fromkeys(source.columns.values()))
    limit = max(1, min(chunk_rows, 50_000))

    def frame(
        records: list[dict[str, Any]], lines: list[int], problems: list[ReaderProblem]
    ) -> _Frame:
        names = list(dict.fromkeys([*wanted, *(k for r in records for k in r)]))
        arrays = [pa.array([_text(r.get(n)) for r in records], pa.string()) for n in names]
        raw = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
        return _Frame(names, arrays, np.array(lines, dtype=np.int64), problems, raw=raw)

    records: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[ReaderProblem] = []
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            if number == 1 and data.startswith(codecs.BOM_UTF8):
                data = data[3:]
            if not data.strip():
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                problems.append(
                    ReaderProblem(
                        number,
                        None,
                        None,
                        UNDECODABLE,
                        f"the line is not valid UTF-8 ({error.reason})",
                        data.decode("utf-8", errors="replace").strip(),
                    )
                )
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                problems.append(
                    ReaderProblem(
                        number,
                        None,
                        None,
                        INVALID_JSON,
                        f"not valid JSON: {error.msg} at column {error.colno}",
                        text.strip(),
                    )
                )
                continue
            if not isinstance(record, dict):
                problems.append(
                    ReaderProblem(
                        number,
                        None,
                        None,
                        NOT_AN_OBJECT,
                        f"a line must be one JSON object, got {type(record).__name__}",
                        text.strip(),
                    )
                )
                continue
            records.append(record)
            lines.append(number)
            if len(records) >= limit:
                yield frame(records, lines, problems)
                records, lines, problems = [], [], []
    if records or problems:
        yield frame(records, lines, problems)


def _text(value: Any) -> str | None:
    """A JSON or spreadsheet value as text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


# --------------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------------


def _xlsx_frames(source: SourceDefinition, path: Path, chunk_rows: int) -> Iterator[_Frame]:
    from openpyxl import load_workbook
    from openpyxl.utils.datetime import from_excel

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise ReaderError(
            "the file is not a readable XLSX workbook", str(error), Location(file=str(path))
        ) from None
    try:
        if source.sheet is not None:
            if source.sheet not in book.sheetnames:
                raise ReaderError(
                    f"the workbook has no sheet {source.sheet!r}",
                    f"its sheets: {', '.join(book.sheetnames)}",
                    Location(file=str(path), key="sheet"),
                )
            sheet = book[source.sheet]
        else:
            sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        header = [str(v).strip() if v is not None else "" for v in (first or ())]
        while header and header[-1] == "":
            header.pop()
        if not any(header):
            raise ReaderError(
                "the sheet has no header row",
                "row 1 must name the columns",
                Location(file=str(path), line=1),
            )
        _missing_columns(source, header, path)
        excel_columns = {
            index
            for index, name in enumerate(header)
            for canonical, column in source.columns.items()
            if column == name and EXCEL in source.formats_for(canonical)
        }
        width = len(header)
        limit = max(1, min(chunk_rows, 50_000))
        columns: list[list[str | None]] = [[] for _ in range(width)]
        lines: list[int] = []
        problems: list[ReaderProblem] = []
        for number, values in enumerate(rows, start=2):
            cells = list(values[:width]) + [None] * (width - len(values))
            extra = [v for v in values[width:] if v not in (None, "")]
            if extra:
                problems.append(
                    ReaderProblem(
                        number,
                        None,
                        None,
                        WRONG_COLUMN_COUNT,
                        f"values beyond the {width} header columns",
                        json.dumps([_text(v) for v in values], ensure_ascii=False),
                    )
                )
                continue
            for i, value in enumerate(cells):
                if (
                    i in excel_columns
                    and isinstance(value, (int, float))
                    and not isinstance(value, bool)
                ):
                    value = from_excel(value)
                columns[i].append(_text(value))
            lines.append(number)
            if len(lines) >= limit:
                yield _list_frame(header, columns, lines, problems)
                columns = [[] for _ in range(width)]
                lines, problems = [], []
        if lines or problems:
            yield _list_frame(header, columns, lines, problems)
    finally:
        book.close()


def _list_frame(
    header: list[str],
    columns: list[list[str | None]],
    lines: list[int],
    problems: list[ReaderProblem],
) -> _Frame:
    arrays = [pa.array(c, pa.string()) for c in columns]
    return _Frame(header, arrays, np.array(lines, dtype=np.int64), problems)


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def _parquet_frames(source: SourceDefinition, path: Path, chunk_rows: int) -> Iterator[_Frame]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ReaderError(
            "the file is not a readable Parquet file", str(error), Location(file=str(path))
        ) from None
    header = list(parquet.schema_arrow.names)
    _missing_columns(source, header, path)
    next_row = 1
    try:
        for batch in parquet.iter_batches(batch_size=max(1, chunk_rows)):
            arrays = [_as_text(column) for column in batch.columns]
            n = batch.num_rows
            yield _Frame(header, arrays, np.arange(next_row, next_row + n, dtype=np.int64))
            next_row += n
    finally:
        parquet.close()


def _as_text(array: pa.Array) -> pa.Array:
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_large_string(array.type) or pa.types.is_dictionary(array.type):
        return array.cast(pa.string())
    if pa.types.is_timestamp(array.type):  # whole seconds, as the lake keeps them
        array = array.cast(pa.timestamp("s"), safe=False)
    try:
        return array.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([_text(v) for v in array.to_pylist()], pa.string())
