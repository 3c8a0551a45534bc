"""Source definitions: the packaged ones, loading, matching, and every validation error."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifesign.catalog import Catalog
from lifesign.ingest.sources import (
    PACKAGED_DIR,
    SOURCES_ENV,
    PullSpec,
    SourceDefinitionError,
    load_sources,
    match_source,
)
from lifesign.ingest.tools.make_sources import render
from lifesign.synth.feeds.shapes import load_shapes

GOOD = """\
code: clinic
department: medical_insurance
name_zh: 门诊
format: csv
encoding: gbk
file_pattern: "clinic_*.csv"
columns:
  record_id: 流水号
  id_number: 身份证号
  event_time: 时间
type_column: 类型
types:
  门诊: mi_outpatient
date_formats:
  event_time: ["%Y-%m-%d %H:%M:%S", "%Y/%-m/%-d"]
"""


def write(folder: Path, text: str, name: str = "clinic.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def problems_of(folder: Path, catalog: Catalog) -> list[str]:
    with pytest.raises(SourceDefinitionError) as caught:
        load_sources(folder, catalog)
    return [str(p) for p in caught.value.problems]


def test_packaged_definitions_load_one_per_feed(catalog: Catalog) -> None:
    sources = load_sources(None, catalog)
    shapes = load_shapes()
    assert set(sources) == {s.source for s in shapes}
    assert len(sources) == 27
    assert {s.department for s in sources.values()} == set(catalog.departments)


def test_packaged_definitions_stay_in_step_with_the_shapes() -> None:
    for shape in load_shapes():
        path = PACKAGED_DIR / f"{shape.source}.yaml"
        assert path.read_text(encoding="utf-8") == render(shape), (
            f"{path.name} differs from shapes.yaml: "
            "run python -m lifesign.ingest.tools.make_sources"
        )


def test_a_good_definition(tmp_path: Path, catalog: Catalog) -> None:
    source = load_sources(write(tmp_path, GOOD), catalog)["clinic"]
    assert source.department == "medical_insurance"
    assert source.columns["evidence_type"] == "类型"
    assert source.types == {"门诊": "mi_outpatient"}
    assert source.date_formats["event_time"] == ("%Y-%m-%d %H:%M:%S", "%Y/%-m/%-d")
    assert source.encoding == "gbk" and source.format == "csv" and source.pull is None
    assert source.required_columns == {
        "record_id": "流水号",
        "id_number": "身份证号",
        "event_time": "时间",
        "evidence_type": "类型",
    }


def test_environment_variable_overrides_packaged(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SOURCES_ENV, str(write(tmp_path, GOOD)))
    assert list(load_sources(None, catalog)) == ["clinic"]


def test_canonical_source_needs_no_mapping(tmp_path: Path, catalog: Catalog) -> None:
    text = "code: canon\ndepartment: railway\nformat: csv\ncanonical: true\n"
    source = load_sources(write(tmp_path, text), catalog)["canon"]
    assert source.columns["id_number"] == "id_number"
    assert source.columns["evidence_type"] == "evidence_type"
    assert source.date_formats["event_time"] == ("iso8601",)
    assert set(source.required_columns) == {"record_id", "id_number", "evidence_type", "event_time"}
    fixed = text + "fixed_type: rail_boarding\n"
    source = load_sources(write(tmp_path, fixed), catalog)["canon"]
    assert source.fixed_type == "rail_boarding" and "evidence_type" not in source.columns


def test_pull_spec(tmp_path: Path, catalog: Catalog) -> None:
    text = (
        GOOD.replace("format: csv", "format: database")
        + "pull:\n  url: env:CLINIC_DB\n  table: visits\n  watermark_column: updated_at\n"
        + "  order: [updated_at, id]\n"
    )
    source = load_sources(write(tmp_path, text), catalog)["clinic"]
    assert source.pull == PullSpec(
        url="env:CLINIC_DB",
        watermark_column="updated_at",
        table="visits",
        order=("updated_at", "id"),
    )


# (replacement made in GOOD, key expected in the problem, words expected in the problem)
ERRORS = [
    ("department: medical_insurance", "department: hospital", "department", "unknown department"),
    ("门诊: mi_outpatient", "门诊: mi_outpatinet", "types.门诊", "unknown evidence type"),
    ("门诊: mi_outpatient", "门诊: rail_boarding", "types.门诊", "belongs to department"),
    ("  record_id: 流水号\n", "", "columns", "missing required canonical column 'record_id'"),
    ("type_column: 类型\ntypes:\n  门诊: mi_outpatient\n", "", "", "'type_column'"),
    ("format: csv", "format: xls", "format", "unknown format 'xls'"),
    ("encoding: gbk", "encoding: big5", "encoding", "unknown encoding 'big5'"),
    ('"%Y/%-m/%-d"', '"%Y/%q"', "date_formats.event_time", "bad date format"),
    ('"%Y/%-m/%-d"', '"excel"', "date_formats.event_time", "only XLSX"),
    ("file_pattern:", "file_patern:", "file_patern", "unknown key 'file_patern'"),
    ("  record_id: 流水号", "  recordid: 流水号", "columns.recordid", "unknown canonical field"),
]


@pytest.mark.parametrize(("old", "new", "key", "words"), ERRORS)
def test_each_error_names_file_key_and_problem(
    tmp_path: Path, catalog: Catalog, old: str, new: str, key: str, words: str
) -> None:
    assert old in GOOD
    problems = problems_of(write(tmp_path, GOOD.replace(old, new)), catalog)
    assert any(
        p.startswith("clinic.yaml:") and (f": {key}:" in p if key else True) and words in p
        for p in problems
    ), problems


def test_fixed_type_of_another_department(tmp_path: Path, catalog: Catalog) -> None:
    text = GOOD.replace(
        "type_column: 类型\ntypes:\n  门诊: mi_outpatient\n", "fixed_type: rail_boarding\n"
    )
    problems = problems_of(write(tmp_path, text), catalog)
    assert any(": fixed_type:" in p and "belongs to department" in p for p in problems), problems


def test_duplicate_source_code(tmp_path: Path, catalog: Catalog) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD, name="clinic_copy.yaml")
    problems = problems_of(tmp_path, catalog)
    assert any("clinic_copy.yaml" in p and "duplicate source code 'clinic'" in p for p in problems)


def test_pull_without_watermark(tmp_path: Path, catalog: Catalog) -> None:
    text = (
        GOOD.replace("format: csv", "format: database")
        + "pull:\n  url: sqlite:///x.db\n  table: t\n"
    )
    problems = problems_of(write(tmp_path, text), catalog)
    assert any(": pull.watermark_column:" in p and "watermark_column" in p for p in problems)


def test_yaml_syntax_error_has_its_line(tmp_path: Path, catalog: Catalog) -> None:
    text = GOOD.replace("types:\n  门诊: mi_outpatient", "types:\n  门诊: [mi_outpatient")
    problems = problems_of(write(tmp_path, text), catalog)
    assert len(problems) == 1 and "YAML syntax error" in problems[0]
    assert problems[0].startswith("clinic.yaml:1") or problems[0].startswith("clinic.yaml:")
    line = int(problems[0].split(":")[1])
    assert 12 <= line <= 16


def test_every_problem_at_once_with_lines(tmp_path: Path, catalog: Catalog) -> None:
    text = GOOD.replace("format: csv", "format: xls").replace("encoding: gbk", "encoding: big5")
    with pytest.raises(SourceDefinitionError) as caught:
        load_sources(write(tmp_path, text), catalog)
    found = caught.value.problems
    assert {p.key for p in found} == {"format", "encoding"}
    assert {p.line for p in found} == {4, 5}
    assert "2 problems" in str(caught.value)


def test_match_source(tmp_path: Path, catalog: Catalog) -> None:
    sources = load_sources(None, catalog)
    assert match_source(sources, Path("/drop/yibao_settle_20250101.csv")) is sources["yibao_settle"]
    assert match_source(sources, Path("YIBAO_SETTLE_20250101.CSV")) is sources["yibao_settle"]
    assert (
        match_source(sources, Path("/drop/202501_户籍注销.xlsx")) is sources["gongan_cancellation"]
    )
    assert match_source(sources, Path("/drop/unknown.csv")) is None


def test_the_documented_canonical_example_reads(tmp_path: Path, catalog: Catalog) -> None:
    import re

    import pyarrow as pa

    from lifesign.ingest.parsing import map_evidence_types, parse_event_times
    from lifesign.ingest.readers import read_records

    doc = (Path(__file__).parents[2] / "docs" / "sources.md").read_text(encoding="utf-8")
    definition = re.search(r"```yaml\n(code: tielu_canonical.*?)```", doc, re.S)
    example = re.search(r"```csv\n(.*?)```", doc, re.S)
    assert definition and example
    folder = write(tmp_path / "defs", definition.group(1), name="tielu_canonical.yaml")
    sources = load_sources(folder, catalog)
    feed = tmp_path / "tielu_20250102.csv"
    feed.write_text(example.group(1), encoding="utf-8")
    source = match_source(sources, feed)
    assert source is not None and source.code == "tielu_canonical"
    chunks = list(read_records(source, feed))
    table = pa.concat_tables([c.table for c in chunks])
    assert [p for c in chunks for p in c.problems] == []
    assert table.column("row").to_pylist() == [2, 3, 4]
    assert table.column("name").to_pylist() == ["张三", "李四", "王,五"]
    times = parse_event_times(
        table.column("event_time").combine_chunks(), source.formats_for("event_time")
    )
    assert times.null_count == 0
    types = map_evidence_types(source, table.column("evidence_type").combine_chunks())
    assert types.to_pylist() == ["rail_boarding"] * 3
