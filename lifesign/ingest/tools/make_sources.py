"""Write the packaged source definitions of the synthetic city from its feed shapes.

Run once when the shapes change (tests/ingest/test_sources_packaged.py checks that the files
stay in step); the YAML files are data that a city's data manager edits or replaces:

    python -m lifesign.ingest.tools.make_sources [OUT_DIR]   (default: the packaged folder)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lifesign.ingest.sources import EXCEL, ISO8601, PACKAGED_DIR
from lifesign.synth.feeds.shapes import FeedShape, load_shapes

_FORMAT_NOTES = {
    "csv": "comma-separated text, header on line 1",
    "xlsx": "Excel workbook, header in row 1 of the sheet",
    "jsonl": "JSON lines: one JSON object per line",
}
_ENCODING_NOTES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with a byte-order mark (as Excel saves 'CSV UTF-8')",
    "gbk": "GBK (read as GB18030, its superset)",
}


def date_pattern(pattern: str) -> str:
    """A shapes strftime pattern as a source-definition date format."""
    if pattern == EXCEL:
        return EXCEL
    if pattern.startswith("%Y-%m-%dT%H:%M:%S") and pattern.endswith("+08:00"):
        return ISO8601  # ISO 8601 with the offset, read as Beijing time
    return pattern


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def render(shape: FeedShape) -> str:
    """The YAML text of one source definition, with comments for a data manager."""
    spec = shape.source_definition()
    lines = [
        f"# {shape.name_zh} — source {shape.source!r} of department {shape.department!r}.",
        "# Generated from lifesign/synth/feeds/shapes.yaml by lifesign.ingest.tools.make_sources;",
        "# a city edits this file to describe its own feed (format: docs/sources.md).",
        f"code: {shape.source}",
        f"department: {shape.department}",
        f"name_zh: {shape.name_zh}",
        f"format: {shape.format}              # {_FORMAT_NOTES[shape.format]}",
        f"encoding: {shape.encoding}          # {_ENCODING_NOTES[shape.encoding]}",
    ]
    if spec["sheet"]:
        lines.append(f"sheet: {spec['sheet']}")
    name = Path(shape.file).name.replace("{yyyymmdd}", "*").replace("{yyyymm}", "*")
    lines.append(f"file_pattern: {_quote(name)}   # which files are this feed ({shape.period})")
    lines.append("# canonical field: the department's own column name")
    lines.append("columns:")
    type_column = shape.type_column
    for column in shape.columns:
        if column.field and column.field != "evidence_type":
            lines.append(f"  {column.field}: {column.name}")
    extras = [c.name for c in shape.columns if c.extra]
    if extras:
        lines.append(f"  # not used (kept only in quarantine's raw record): {', '.join(extras)}")
    if type_column:
        lines.append("# the column whose value says the evidence type, and what each value means")
        lines.append(f"type_column: {type_column}")
        lines.append("types:")
        for value, code in shape.types.items():
            lines.append(f"  {value}: {code}")
    else:
        lines.append("# every record of this feed is of one evidence type")
        lines.append(f"fixed_type: {shape.fixed_type}")
    lines.append("# how dates are written: strftime patterns tried in order, 'excel' or 'iso8601'")
    lines.append("date_formats:")
    for column in shape.columns:
        if column.field in ("event_time", "birth_date") and column.format:
            lines.append(f"  {column.field}: [{_quote(date_pattern(column.format))}]")
    return "\n".join(lines) + "\n"


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for shape in load_shapes():
        path = out / f"{shape.source}.yaml"
        path.write_text(render(shape), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else PACKAGED_DIR
    for path in write_all(out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
