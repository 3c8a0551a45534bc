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
import zipfile
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lifesign.synth.feeds.shapes import FeedShape

EPOCH = dt.date(1970, 1, 1)
EXCEL_EPOCH_OFFSET = 25569  # Excel serial number of 1970-01-01
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


_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/styles" Target="styles.xml"/></Relationships>'
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    "<sheetData>"
)
_SHEET_TAIL = "</sheetData></worksheet>"


def _xml_escape(arr: pa.Array) -> pa.Array:
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        arr = pc.replace_substring(arr, a, b)
    return arr


def _col_letter(j: int) -> str:
    out = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        out = chr(65 + r) + out
    return out


def xlsx_bytes(
    shape: FeedShape, columns: list[pa.Array], dates: dict[int, npt.NDArray[np.float64]]
) -> bytes:
    """A minimal SpreadsheetML package with one sheet: header row, then one row per record.

    Text cells are inline strings; `dates` (column index -> Excel serial numbers, NaN for
    missing) become numeric cells with a yyyy-mm-dd number format, so readers see dates.
    Built with vectorised Arrow string joins: XlsxWriter's per-cell Python costs ~10 µs a
    cell, too slow for hundreds of thousands of rows.
    """
    n = len(columns[0]) if columns else 0
    rn = pc.cast(pa.array(np.arange(2, n + 2, dtype=np.int64)), pa.string())
    cells: list[Any] = []
    for j, arr in enumerate(columns):
        letter = _col_letter(j)
        if j in dates:
            serial = dates[j]
            nan = np.isnan(serial)
            txt = pc.cast(pa.array(np.where(nan, 0, serial).astype(np.int64)), pa.string())
            txt = pc.if_else(pa.array(nan), pa.scalar(None, pa.string()), txt)
            cell = pc.binary_join_element_wise(
                f'<c r="{letter}', rn, '" s="1"><v>', txt, "</v></c>", ""
            )
        elif shape.columns[j].extra in NUMERIC_EXTRAS:
            cell = pc.binary_join_element_wise(f'<c r="{letter}', rn, '"><v>', arr, "</v></c>", "")
        else:
            cell = pc.binary_join_element_wise(
                f'<c r="{letter}', rn, '" t="inlineStr"><is><t>', _xml_escape(arr),
                "</t></is></c>", "",
            )  # fmt: skip
        cells.append(pc.fill_null(cell, ""))
    head = "".join(
        f'<c r="{_col_letter(j)}1" t="inlineStr"><is><t>{c.name}</t></is></c>'
        for j, c in enumerate(shape.columns)
    )
    body = b""
    if n:
        rows = pc.binary_join_element_wise('<row r="', rn, '">', *cells, "</row>", "")
        body = slice_bytes(rows, 0, n)
    sheet = (_SHEET_HEAD + f'<row r="1">{head}</row>').encode() + body + _SHEET_TAIL.encode()
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{shape.sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    parts = {**_XLSX_STATIC, "xl/workbook.xml": workbook}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, text in parts.items():
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), text.encode("utf-8"))
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", (1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, sheet, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return buf.getvalue()
