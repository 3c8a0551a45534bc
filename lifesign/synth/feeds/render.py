"""Turning columns into bytes: CSV, JSON lines and XLSX in each feed's own shape.

CSV and JSON lines are built as one Arrow string per row (`binary_join_element_wise` of the
column arrays and the literal fragments), so the file's bytes are simply the data buffer of
that array: no per-row Python. GBK files are re-encoded in one `str.encode` over the block.
XLSX (low-volume feeds only) goes through XlsxWriter in constant-memory mode.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from lifesign.synth.feeds.shapes import FeedShape

EPOCH = dt.date(1970, 1, 1)
EXCEL_EPOCH_OFFSET = 25569  # Excel serial number of 1970-01-01
XLSX_CREATED = dt.datetime(2000, 1, 1)
_TIME_TOKEN = re.compile(r"%[HMS]")


_TOKEN = re.compile(r"%-?[YmdHMS]")
_TWO = pa.array([f"{i:02d}" for i in range(100)], pa.string())
_ONE = pa.array([str(i) for i in range(100)], pa.string())
_YEAR0 = 1800
_YEARS = pa.array([str(y) for y in range(_YEAR0, 2400)], pa.string())


def split_format(fmt: str) -> tuple[str, str]:
    """Split a strftime pattern into its date part and its time-of-day part."""
    m = _TIME_TOKEN.search(fmt)
    return (fmt, "") if m is None else (fmt[: m.start()], fmt[m.start() :])


def format_day(day: dt.date, fmt: str) -> str:
    """One date in `fmt` (the slow, obvious way; tests compare against it)."""
    text = fmt.replace("%-m", str(day.month)).replace("%-d", str(day.day))
    return day.strftime(text) if "%" in text else text


def _parts(
    fmt: str, day: npt.NDArray[np.int64] | None, second: npt.NDArray[np.int32] | None
) -> list[Any]:
    """The pieces of `fmt` for each row: Arrow arrays for the tokens, strings between."""
    parts: list[Any] = []
    ymd: tuple[Any, Any, Any] | None = None
    if day is not None:
        d = day.astype("datetime64[D]")
        y = d.astype("datetime64[Y]")
        mo = d.astype("datetime64[M]")
        ymd = (
            y.astype(np.int64) + 1970,
            mo.astype(np.int64) - y.astype("datetime64[M]").astype(np.int64) + 1,
            (d - mo.astype("datetime64[D]")).astype(np.int64) + 1,
        )
    pos = 0
    for m in _TOKEN.finditer(fmt):
        if m.start() > pos:
            parts.append(fmt[pos : m.start()])
        tok = m.group()
        if tok in ("%H", "%M", "%S"):
            assert second is not None
            v = {"%H": second // 3600, "%M": (second // 60) % 60, "%S": second % 60}[tok]
            parts.append(pc.take(_TWO, pa.array(v.astype(np.int64))))
        else:
            assert ymd is not None
            if tok == "%Y":
                parts.append(pc.take(_YEARS, pa.array(np.clip(ymd[0] - _YEAR0, 0, 599))))
            else:
                v = ymd[1] if tok[-1] == "m" else ymd[2]
                parts.append(pc.take(_ONE if "-" in tok else _TWO, pa.array(v)))
        pos = m.end()
    if pos < len(fmt):
        parts.append(fmt[pos:])
    return parts


def date_strings(
    fmt: str, day: npt.NDArray[np.int64], second: npt.NDArray[np.int32] | None, null: Any
) -> pa.Array:
    """Format day numbers (and seconds of the day) with `fmt`; `null` masks missing values."""
    if day.size == 0:
        return pa.array([], pa.string())
    sec = np.zeros(day.size, np.int32) if second is None else second
    parts = _parts(fmt, day, sec)
    if not any(isinstance(p, pa.Array) for p in parts):
        out = pa.array(["".join(parts)] * day.size, pa.string())
    else:
        out = pc.binary_join_element_wise(*parts, "")
    if null is not None and np.any(null):
        out = pc.if_else(pa.array(null), pa.scalar(None, pa.string()), out)
    return out


def padded(prefix: str, numbers: npt.NDArray[np.int64], width: int) -> pa.Array:
    """prefix + zero-padded numbers, as Arrow strings."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "") if prefix else digits


def amount_strings(cents: npt.NDArray[np.int64], decimals: int) -> pa.Array:
    if decimals == 0:
        return pc.cast(pa.array(cents // 100), pa.string())
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def encode(text_utf8: bytes, encoding: str) -> bytes:
    if encoding == "utf-8":
        return text_utf8
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text_utf8
    return text_utf8.decode("utf-8").encode(encoding)


def csv_header(shape: FeedShape) -> bytes:
    return (",".join(c.name for c in shape.columns) + "\n").encode("utf-8")


def csv_lines(columns: list[pa.Array]) -> pa.Array:
    """One CSV line (with its newline) per row; missing values are empty."""
    joined = pc.binary_join_element_wise(
        *columns, ",", null_handling="replace", null_replacement=""
    )
    return pc.binary_join_element_wise(joined, "\n", "")


NUMERIC_EXTRAS = ("amount",)


def jsonl_lines(shape: FeedShape, columns: list[pa.Array]) -> pa.Array:
    """One JSON object (with its newline) per row; missing values are null."""
    parts: list[Any] = []
    for i, (col, arr) in enumerate(zip(shape.columns, columns, strict=True)):
        parts.append(("{" if i == 0 else ",") + f'"{col.name}":')
        if col.extra in NUMERIC_EXTRAS:
            parts.append(pc.fill_null(arr, "null"))
        else:
            quoted = pc.binary_join_element_wise('"', arr, '"', "")
            parts.append(pc.fill_null(quoted, "null"))
    parts.append("}\n")
    return pc.binary_join_element_wise(*parts, "")


def slice_bytes(lines: pa.Array, a: int, b: int) -> bytes:
    """The bytes of rows [a, b) of a string array without nulls."""
    if b <= a:
        return b""
    arr = lines if isinstance(lines, pa.StringArray) else pa.array(lines, pa.string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)
    base = arr.offset
    data = arr.buffers()[2]
    assert data is not None
    lo, hi = int(offsets[base + a]), int(offsets[base + b])
    return memoryview(data)[lo:hi].tobytes()


def xlsx_bytes(
    shape: FeedShape, columns: list[pa.Array], dates: dict[int, npt.NDArray[np.float64]]
) -> bytes:
    """One worksheet named after the feed's sheet: the header row, then one row per record.

    Written with XlsxWriter (shared strings, like a file saved by Excel). `dates` (column
    index -> Excel serial numbers, NaN for missing) become numeric cells with a yyyy-mm-dd
    number format, so readers see real date cells. The document's creation time is fixed so
    that the same seed gives the same bytes.
    """
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    workbook.set_properties({"created": XLSX_CREATED})
    sheet = workbook.add_worksheet(shape.sheet)
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, [c.name for c in shape.columns])
    numeric = [shape.columns[j].extra in NUMERIC_EXTRAS for j in range(len(columns))]
    values = [
        dates[j].tolist() if j in dates else columns[j].to_pylist() for j in range(len(columns))
    ]
    write_number, write_string = sheet.write_number, sheet.write_string
    for j, column in enumerate(values):
        is_date = j in dates
        for i, value in enumerate(column, start=1):
            if value is None or (is_date and value != value):  # NaN: a missing date
                continue
            if is_date:
                write_number(i, j, value, date_format)
            elif numeric[j]:
                write_number(i, j, float(value))
            else:
                write_string(i, j, value)
    workbook.close()
    return buffer.getvalue()
