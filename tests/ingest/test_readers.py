"""Readers: every format and encoding, exact rows, problems, chunking, bounded memory."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from lifesign.catalog import Catalog
from lifesign.ingest.parsing import map_evidence_types, parse_event_times
from lifesign.ingest.readers import RawChunk, ReaderError, read_records
from lifesign.ingest.sources import SourceDefinition, load_sources, match_source

HEADER = ["流水号", "身份证号", "姓名", "类型", "时间", "金额"]


def source(fmt: str = "csv", encoding: str = "auto", **extra: object) -> SourceDefinition:
    values: dict[str, object] = {
        "code": "clinic",
        "department": "medical_insurance",
        "name_zh": "门诊",
        "format": fmt,
        "encoding": encoding,
        "columns": {
            "record_id": "流水号",
            "id_number": "身份证号",
            "name": "姓名",
            "evidence_type": "类型",
            "event_time": "时间",
        },
        "types": {"门诊": "mi_outpatient"},
        "date_formats": {"event_time": ("%Y-%m-%d %H:%M:%S",)},
        "type_column": "类型",
    }
    values.update(extra)
    return SourceDefinition(**values)  # type: ignore[arg-type]


def rows(n: int, name: str = "张三") -> list[list[str]]:
    return [
        [f"R{i:05d}", "341602195001011234", name, "门诊", "2025-01-02 10:00:00", f"{i}.50"]
        for i in range(n)
    ]


def write_csv(path: Path, data: list[list[str]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(data)
    return path


def read_all(src: SourceDefinition, path: Path, chunk_rows: int = 50_000) -> RawChunk:
    chunks = list(read_records(src, path, chunk_rows))
    return RawChunk(
        pa.concat_tables([c.table for c in chunks]), [p for c in chunks for p in c.problems]
    )


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gbk"),
        ("gb18030", "gb18030"),
        ("utf-8", "auto"),
        ("utf-8-sig", "auto"),
        ("gbk", "auto"),
        ("gb18030", "auto"),
    ],
)
def test_csv_encodings(tmp_path: Path, encoding: str, declared: str) -> None:
    name = "𠀀㐀明" if encoding in ("gb18030", "utf-8", "utf-8-sig") else "欧阳明"  # GB18030-only
    path = write_csv(tmp_path / "f.csv", rows(3, name), encoding)
    got = read_all(source(encoding=declared), path)
    assert got.problems == []
    assert got.table.column("name").to_pylist() == [name] * 3
    assert got.table.column("record_id").to_pylist() == ["R00000", "R00001", "R00002"]
    assert got.table.column("row").to_pylist() == [2, 3, 4]
    assert got.table.schema.names == [
        "record_id",
        "id_number",
        "evidence_type",
        "event_time",
        "name",
        "row",
        "raw",
    ]
    raw = json.loads(got.table.column("raw")[0].as_py())
    assert raw == dict(zip(HEADER, rows(1, name)[0], strict=True))


def test_csv_exact_lines_with_blank_wrong_count_and_quoted_values(tmp_path: Path) -> None:
    text = (
        ",".join(HEADER) + "\n"
        "R1,341602195001011234,张三,门诊,2025-01-02 10:00:00,1\n"  # line 2
        "\n"  # line 3: blank
        "R2,341602195001011234,张三,门诊,2025-01-02 10:00:00\n"  # line 4: 5 columns
        'R3,341602195001011234,"张,三",门诊,2025-01-02 10:00:00,"1,5"\n'  # line 5
        'R4,341602195001011234,"李\n四",门诊,2025-01-02 10:00:00,2\n'  # lines 6-7
        "R5,341602195001011234,王五,门诊,2025-01-02 10:00:00,3\n"  # line 8
    )
    path = tmp_path / "odd.csv"
    path.write_text(text, encoding="gbk")
    got = read_all(source(), path)
    assert got.table.column("record_id").to_pylist() == ["R1", "R3", "R4", "R5"]
    assert got.table.column("row").to_pylist() == [2, 5, 6, 8]
    assert got.table.column("name").to_pylist() == ["张三", "张,三", "李\n四", "王五"]
    assert json.loads(got.table.column("raw")[1].as_py())["金额"] == "1,5"
    assert [(p.row, p.reason) for p in got.problems] == [(4, "wrong_column_count")]
    assert "expected 6 columns" in got.problems[0].message


def test_csv_wrong_count_late_in_a_big_file_keeps_lines(tmp_path: Path) -> None:
    data = rows(30_000)
    data[25_000] = data[25_000][:3]
    path = write_csv(tmp_path / "big.csv", data, "gbk")
    got = read_all(source(), path, chunk_rows=7_000)
    assert [(p.row, p.reason) for p in got.problems] == [(25_002, "wrong_column_count")]
    lines = got.table.column("row").to_pylist()
    assert lines == [i + 2 for i in range(30_000) if i != 25_000]
    ids = got.table.column("record_id").to_pylist()
    assert ids[24_999:25_001] == ["R24999", "R25001"]


def test_csv_undecodable_line_is_a_problem(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", rows(3), "gbk")
    data = path.read_bytes().replace("张三".encode("gbk"), b"\x81\x20", 1)
    path.write_bytes(data.replace(b"R00001", b"R00001", 1))
    got = read_all(source(encoding="gbk"), path)
    assert [(p.row, p.reason) for p in got.problems] == [(2, "undecodable")]
    assert got.table.column("row").to_pylist() == [3, 4]


def test_csv_utf8_with_invalid_bytes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", rows(3), "utf-8")
    path.write_bytes(path.read_bytes().replace("张三".encode(), b"\xff\xfe", 2))
    got = read_all(source(encoding="utf-8"), path)
    assert [(p.row, p.reason) for p in got.problems] == [(2, "undecodable"), (3, "undecodable")]
    assert got.table.column("row").to_pylist() == [4]


def test_missing_header_column_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("流水号,姓名,类型,时间\nR1,张三,门诊,2025-01-02 10:00:00\n", encoding="utf-8")
    with pytest.raises(ReaderError) as caught:
        next(read_records(source(), path))
    assert "身份证号 (id_number)" in str(caught.value)
    assert "f.csv" in str(caught.value)


def test_chunks_have_continuous_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", rows(25), "utf-8")
    chunks = list(read_records(source(), path, chunk_rows=10))
    assert [c.table.num_rows for c in chunks] == [10, 10, 5]
    lines = [r for c in chunks for r in c.table.column("row").to_pylist()]
    assert lines == list(range(2, 27))


def test_empty_file_gives_one_empty_chunk(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", [], "utf-8")
    chunks = list(read_records(source(), path))
    assert len(chunks) == 1 and chunks[0].table.num_rows == 0 and chunks[0].problems == []


def test_fixed_type_and_values_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "流水号,身份证号,姓名,时间\n R1 ,341602195001011234,,2025-01-02 10:00:00\n", "utf-8"
    )
    columns = {"record_id": "流水号", "id_number": "身份证号", "name": "姓名", "event_time": "时间"}
    src = source(columns=columns, types={}, fixed_type="mi_outpatient", type_column=None)
    got = read_all(src, path)
    assert got.table.column("evidence_type").to_pylist() == ["mi_outpatient"]
    assert got.table.column("record_id").to_pylist() == ["R1"]
    assert got.table.column("name").to_pylist() == [None]
    assert json.loads(got.table.column("raw")[0].as_py())["流水号"] == " R1 "


def test_xlsx_dates_rows_and_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("门诊")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, HEADER)
    sheet.write_row(1, 0, ["R1", "341602195001011234", "张三", "门诊"])
    sheet.write_datetime(1, 4, datetime(2025, 1, 2, 10, 30), stamp)
    sheet.write_number(1, 5, 12.5)
    # row 3 left blank
    sheet.write_row(3, 0, ["R2", "341602195001011234", "李四", "门诊"])
    sheet.write_number(3, 4, 45659)  # a serial number in an "excel" column: 2025-01-02
    sheet.write_number(3, 5, 3)
    book.close()
    src = source(fmt="xlsx", sheet="门诊", date_formats={"event_time": ("excel",)})
    got = read_all(src, path)
    assert got.problems == []
    assert got.table.column("row").to_pylist() == [2, 4]
    assert got.table.column("event_time").to_pylist() == ["2025-01-02 10:30:00", "2025-01-02"]
    times = parse_event_times(got.table.column("event_time").combine_chunks(), ("excel",))
    assert times.to_pylist() == [datetime(2025, 1, 2, 10, 30), datetime(2025, 1, 2)]
    raw = json.loads(got.table.column("raw")[1].as_py())
    assert raw["金额"] == "3" and raw["姓名"] == "李四"
    with pytest.raises(ReaderError, match="no sheet"):
        next(read_records(source(fmt="xlsx", sheet="其他"), path))


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    good = {"流水号": "R1", "身份证号": "341602195001011234", "类型": "门诊", "时间": "2025-01-02"}
    lines = [
        json.dumps(good, ensure_ascii=False),  # 1
        "",  # 2 blank
        "{not json",  # 3
        "[1, 2]",  # 4
        json.dumps({**good, "流水号": "R2", "金额": 5, "备注": None}, ensure_ascii=False),  # 5
    ]
    path = tmp_path / "f.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"\xff": 1}\n')  # 6 undecodable
    got = read_all(source(fmt="jsonl"), path)
    assert got.table.column("record_id").to_pylist() == ["R1", "R2"]
    assert got.table.column("row").to_pylist() == [1, 5]
    assert got.table.column("name").to_pylist() == [None, None]
    assert [(p.row, p.reason) for p in got.problems] == [
        (3, "invalid_json"),
        (4, "not_an_object"),
        (6, "undecodable"),
    ]
    assert json.loads(got.table.column("raw")[1].as_py())["金额"] == 5


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    table = pa.table(
        {
            "流水号": ["R1", "R2", "R3"],
            "身份证号": ["341602195001011234"] * 3,
            "姓名": ["张三", None, "王五"],
            "类型": ["门诊"] * 3,
            "时间": pa.array([datetime(2025, 1, 2, 10)] * 3, pa.timestamp("s")),
            "金额": [1.5, 2.0, 3.25],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    got = read_all(source(fmt="parquet"), path, chunk_rows=2)
    assert got.table.column("row").to_pylist() == [1, 2, 3]
    assert got.table.column("event_time").to_pylist() == ["2025-01-02 10:00:00"] * 3
    assert got.table.column("name").to_pylist() == ["张三", None, "王五"]
    assert json.loads(got.table.column("raw")[1].as_py())["姓名"] is None
    missing = pa.table({"流水号": ["R1"]})
    pq.write_table(missing, tmp_path / "m.parquet")
    with pytest.raises(ReaderError, match="身份证号"):
        next(read_records(source(fmt="parquet"), tmp_path / "m.parquet"))


def test_raw_escapes_like_json_dumps(tmp_path: Path) -> None:
    data = rows(2)
    data[0][2] = 'say "hi"\\\t'
    path = write_csv(tmp_path / "f.csv", data, "utf-8")
    got = read_all(source(), path)
    for values, raw in zip(data, got.table.column("raw").to_pylist(), strict=True):
        record = dict(zip(HEADER, values, strict=True))
        assert raw == json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def test_every_packaged_source_reads_the_synthetic_city(ingest_city, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    sources = load_sources(None, catalog)
    feeds: Path = ingest_city.feeds
    dirt: dict[str, set[int]] = {}
    with (ingest_city.truth / "dirt.csv").open(encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            if record["kind"] == "missing_field":
                dirt.setdefault(record["file"], set()).add(int(record["line"]))
    with (feeds / "manifest.csv").open(encoding="utf-8") as handle:
        manifest = list(csv.DictReader(handle))
    assert {m["source"] for m in manifest} == set(sources)
    for entry in manifest:
        path = feeds / entry["file"]
        src = sources[entry["source"]]
        assert match_source(sources, path) is src, entry["file"]
        got = read_all(src, path)
        assert got.problems == [], entry["file"]
        assert got.table.num_rows == int(entry["records"]), entry["file"]
        table = got.table
        times = parse_event_times(
            table.column("event_time").combine_chunks(), src.formats_for("event_time")
        )
        types = map_evidence_types(src, table.column("evidence_type").combine_chunks())
        rows_ = table.column("row").to_numpy()
        unreadable = {
            int(rows_[i])
            for i in range(len(rows_))
            if not times[i].is_valid or not types[i].is_valid
        }
        assert unreadable <= dirt.get(entry["file"], set()), (entry["file"], unreadable)
        if "birth_date" in table.column_names:
            births = parse_event_times(
                table.column("birth_date").combine_chunks(), src.formats_for("birth_date")
            )
            assert births.null_count == table.column("birth_date").null_count, entry["file"]


MEMORY_SCRIPT = r"""
import resource, sys
from pathlib import Path
from lifesign.ingest.readers import read_records
from lifesign.ingest.sources import SourceDefinition

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0

path = Path(sys.argv[1])
src = SourceDefinition(code="m", department="medical_insurance", name_zh="m", format="csv",
    encoding="utf-8", columns={"record_id": "id", "id_number": "idn", "event_time": "t",
    "evidence_type": "k", "name": "n"}, types={"a": "mi_outpatient"}, type_column="k")
chunks = read_records(src, path)
first = next(chunks)
before = peak_kb()
rows = first.table.num_rows
for chunk in chunks:
    rows += chunk.table.num_rows
print(rows, peak_kb() - before)
"""


@pytest.mark.slow
def test_memory_stays_bounded_on_a_200_mb_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    line = "R{:010d},341602195001011234,Zhang San Feng Long Name,a,2025-01-02 10:00:00," + "x" * 60
    block = "\n".join(line.format(i) for i in range(100_000)) + "\n"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,idn,n,k,t,extra\n")
        for _ in range(17):  # ~ 200 MB
            handle.write(block)
    size_mb = path.stat().st_size / 1e6
    assert size_mb > 190
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    rows, growth_kb = (int(x) for x in done.stdout.split())
    assert rows == 1_700_000
    assert growth_kb < 150 * 1024, (
        f"peak RSS grew by {growth_kb // 1024} MB reading {size_mb:.0f} MB"
    )


def test_parse_and_map_helpers(catalog: Catalog) -> None:
    src = load_sources(None, catalog)["yibao_settle"]
    mapped = map_evidence_types(src, pa.array(["住院", " 普通门诊 ", "挂号", None]))
    assert mapped.to_pylist() == ["mi_inpatient", "mi_outpatient", None, None]
    got = parse_event_times(
        pa.array(["2025年1月2日", "2025年01月31日", "2025年2月30日", ""]), ("%Y年%-m月%-d日",)
    )
    assert got.to_pylist() == [datetime(2025, 1, 2), datetime(2025, 1, 31), None, None]
    iso = parse_event_times(
        pa.array(["2025-01-02T10:00:00+08:00", "2025-01-02T02:00:00Z", "2025-01-02"]), ("iso8601",)
    )
    assert iso.to_pylist() == [datetime(2025, 1, 2, 10)] * 2 + [datetime(2025, 1, 2)]
    assert date(2025, 1, 2)  # keep the import honest for type checkers
