"""Vectorised parsing of what the readers hand over as text: evidence types and times.

Both return null where a value cannot be understood; the pipeline turns nulls into rejections
(`unknown_evidence_type`, an unparsable `event_time`) naming the row and the value.

Times are naive `timestamp[s]` in the city's local time (China Standard Time, UTC+8, no
daylight saving): a value written with an offset (2024-11-01T08:30:00+08:00, ...Z) is shifted
to it. A pattern is strict: 2024-02-30 is not a date (Arrow alone would roll it over to
March 1st; every parsed value is formatted back and compared).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc

from lifesign.ingest.sources import EXCEL, ISO8601, SourceDefinition

CITY_UTC_OFFSET = timedelta(hours=8)

_LOCAL_ISO_PATTERNS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_OFFSET_RE = r"(Z|[+-]\d{2}:?\d{2})$"
_LEADING_ZEROS = r"(^|[^0-9])0+([0-9])"


_STRING = pa.string()


@functools.lru_cache(maxsize=1024)
def _scalar(value: object, kind: pa.DataType = _STRING) -> pa.Scalar:
    """A cached Arrow scalar (converting a Python value on every compute call is slow)."""
    return pa.scalar(value, kind)


def map_evidence_types(source: SourceDefinition, values: pa.Array) -> pa.Array:
    """The catalog evidence type of each department value (null where unmapped).

    A fixed-type source maps its fixed type to itself; a canonical source without `types`
    already sends catalog codes (checked against the catalog by the pipeline)."""
    trimmed = pc.utf8_trim_whitespace(values.cast(pa.string()))
    if source.fixed_type:
        fixed = _scalar(source.fixed_type)
        return pc.if_else(pc.equal(trimmed, fixed), fixed, _scalar(None))
    if not source.types:
        return pc.if_else(pc.equal(trimmed, _scalar("")), _scalar(None), trimmed)
    keys = pa.array(list(source.types), pa.string())
    codes = pa.array(list(source.types.values()), pa.string())
    return pc.take(codes, pc.index_in(trimmed, value_set=keys))


def parse_event_times(values: pa.Array, formats: Sequence[str]) -> pa.Array:
    """Each text as timestamp[s] by the first of `formats` that reads it (null if none).

    A format is a strftime pattern (%Y %m %d %H %M %S, %-m %-d %-H without leading zeros,
    any literal text such as 年月日), "iso8601", or "excel" (the XLSX reader has already
    written date cells as ISO 8601 text)."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    result: pa.Array | None = None
    for pattern in formats or (ISO8601,):
        if pattern in (ISO8601, EXCEL):
            parsed = _parse_iso(text)
        else:
            parsed = _strptime_strict(text, pattern)
        result = parsed if result is None else pc.coalesce(result, parsed)
    assert result is not None
    return result


def _strptime_strict(text: pa.Array, pattern: str) -> pa.Array:
    arrow_pattern = pattern.replace("%-m", "%m").replace("%-d", "%d").replace("%-H", "%H")
    parsed = pc.strptime(text, format=arrow_pattern, unit="s", error_is_null=True)
    if parsed.null_count == len(parsed):
        return parsed
    # Arrow rolls impossible dates over (2024-02-30 -> 2024-03-01): format back and compare,
    # ignoring leading zeros (so %m also accepts 3 for March, as %-m does).
    back = pc.strftime(parsed, format=arrow_pattern)
    same = pc.equal(
        pc.replace_substring_regex(back, _LEADING_ZEROS, r"\1\2"),
        pc.replace_substring_regex(text, _LEADING_ZEROS, r"\1\2"),
    )
    return pc.if_else(pc.fill_null(same, False), parsed, _scalar(None, pa.timestamp("s")))


def _parse_iso(text: pa.Array) -> pa.Array:
    """ISO 8601: date, date and time (T or space, optional seconds and fraction), optional
    offset (Z, +08:00, +0800)."""
    spaced = pc.replace_substring_regex(text, r"^(\d{4}-\d{1,2}-\d{1,2})T", r"\1 ")
    whole_seconds = pc.replace_substring_regex(spaced, r"(:\d{2})\.\d+", r"\1")
    has_offset = pc.fill_null(pc.match_substring_regex(whole_seconds, _OFFSET_RE), False)
    local_text = pc.replace_substring_regex(whole_seconds, r"\s*" + _OFFSET_RE, "")
    parsed: pa.Array | None = None
    for pattern in _LOCAL_ISO_PATTERNS:
        attempt = _strptime_strict(local_text, pattern)
        parsed = attempt if parsed is None else pc.coalesce(parsed, attempt)
    assert parsed is not None
    if not pc.any(has_offset).as_py():
        return parsed
    parts = pc.extract_regex(
        pc.if_else(has_offset, whole_seconds, _scalar("+00:00")),
        r"(?P<sign>[+-]?)(?P<h>\d{0,2}):?(?P<m>\d{0,2})$",
    )
    sign = pc.if_else(pc.equal(pc.struct_field(parts, "sign"), _scalar("-")), -1, 1)
    hours = pc.cast(
        pc.if_else(
            pc.equal(pc.struct_field(parts, "h"), _scalar("")),
            _scalar("0"),
            pc.struct_field(parts, "h"),
        ),
        pa.int64(),
    )
    minutes = pc.cast(
        pc.if_else(
            pc.equal(pc.struct_field(parts, "m"), _scalar("")),
            _scalar("0"),
            pc.struct_field(parts, "m"),
        ),
        pa.int64(),
    )
    offset_seconds = pc.multiply(sign, pc.add(pc.multiply(hours, 3600), pc.multiply(minutes, 60)))
    shift = pc.subtract(int(CITY_UTC_OFFSET.total_seconds()), offset_seconds)
    shift = pc.if_else(has_offset, shift, 0)
    as_int = pc.add(parsed.cast(pa.int64()), shift)
    return as_int.cast(pa.timestamp("s"))
