"""The drop folder: complete files are ingested once and moved aside with their report.

Real files in a real folder, the real pipeline on a SQLite state database with a small
registry. No test waits on the clock for more than a few looks of 20 ms, and every loop that
could run forever is bounded (`once`, `max_files`, or a thread joined with a timeout).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lifesign.catalog import Catalog
from lifesign.config import Settings
from lifesign.ingest.pipeline import Ingestor
from lifesign.ingest.sources import SourceDefinition, load_sources, match_source
from lifesign.ingest.watch import (
    DropFolder,
    FileResult,
    StabilityTracker,
    is_candidate_name,
)
from lifesign.registry.ids import check_character
from lifesign.registry.importer import RegistryImporter
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store import open_database

AS_OF = dt.date(2026, 11, 30)
TODAY = dt.date(2026, 12, 1)
LOOK = 0.02  # seconds between two looks: enough for a file written in one go to be stable
PEOPLE = 20

CSV_SOURCE = """
code: drop_cremation
department: funeral_home
name_zh: 火化登记（投递）
format: csv
file_pattern: "*_火化登记.csv"
columns:
  record_id: 火化证号
  id_number: 逝者身份证号
  name: 逝者姓名
  event_time: 火化日期
fixed_type: funeral_cremation
date_formats:
  event_time: ["%Y-%m-%d", "%Y/%m/%d"]
"""

XLSX_SOURCE = """
code: drop_cremation_xlsx
department: funeral_home
name_zh: 火化登记（投递，Excel）
format: xlsx
file_pattern: "*_火化登记.xlsx"
columns:
  record_id: 火化证号
  id_number: 逝者身份证号
  event_time: 火化日期
fixed_type: funeral_cremation
date_formats:
  event_time: ["excel", "%Y-%m-%d"]
"""


def id_number(index: int) -> str:
    born = dt.date(1941, 2, 1) + dt.timedelta(days=131 * index)
    first17 = f"341621{born:%Y%m%d}{index % 1000:03d}"
    return first17 + check_character(first17)


def cremation_csv(first: int, count: int, *, bad_ids: int = 0, encoding: str = "utf-8") -> bytes:
    """A cremation register: `count` good records, then `bad_ids` with a wrong check digit."""
    lines = ["火化证号,逝者身份证号,逝者姓名,火化日期"]
    for n in range(first, first + count):
        lines.append(f"HH{n:06d},{id_number(n % PEOPLE)},李四,2026-03-{1 + n % 28:02d}")
    for n in range(bad_ids):
        good = id_number(n % PEOPLE)
        wrong = good[:-1] + ("1" if good[-1] != "1" else "2")
        lines.append(f"HB{first + n:06d},{wrong},王五,2026-03-15")
    return ("\n".join(lines) + "\n").encode(encoding)


@dataclass
class Drop:
    """A home with a registry, the two sources above, and a drop folder."""

    settings: Settings
    catalog: Catalog
    sources: dict[str, SourceDefinition]
    inbox: Path
    sources_dir: Path

    def ingestor(self) -> Ingestor:
        return Ingestor(self.settings, self.catalog, self.sources, AS_OF)

    def folder(self, ingestor: Ingestor | None = None) -> DropFolder:
        ingestor = ingestor or self.ingestor()
        return DropFolder(
            directory=self.inbox,
            match=lambda path: match_source(self.sources, path),
            ingest=ingestor.ingest_file,
            describe_patterns=lambda: "*_火化登记.csv, *_火化登记.xlsx",
            today=lambda: TODAY,
        )

    def put(self, name: str, content: bytes) -> Path:
        path = self.inbox / name
        path.write_bytes(content)
        return path

    def done(self) -> Path:
        return self.inbox / "done" / TODAY.isoformat()

    def lake_record_ids(self) -> list[str]:
        files = sorted((self.settings.lake_dir / "evidence").glob("*/source=*/*.parquet"))
        if not files:
            return []
        table = pa.concat_tables([pq.read_table(f, columns=["record_id"]) for f in files])
        return sorted(table.column("record_id").to_pylist())

    def inbox_files(self) -> list[str]:
        return sorted(p.name for p in self.inbox.iterdir() if p.is_file())


@pytest.fixture
def drop(tmp_path: Path, catalog: Catalog) -> Drop:
    home = tmp_path / "home"
    settings = Settings(
        home=home, database_url=f"sqlite:///{home / 'lifesign.db'}", catalog_dir=None
    )
    people = tmp_path / "people.csv"
    people.write_text(
        "id_number,name,grid_code\n"
        + "".join(f"{id_number(i)},测试{i},341621001001001\n" for i in range(PEOPLE)),
        encoding="utf-8",
    )
    engine = open_database(settings)
    try:
        importer = RegistryImporter(engine, Pseudonymizer.for_home(settings.secrets_dir))
        assert importer.import_file("people", people).accepted == PEOPLE
    finally:
        engine.dispose()
    sources_dir = tmp_path / "sources"
    sources_dir.mkdir()
    (sources_dir / "drop_cremation.yaml").write_text(CSV_SOURCE, encoding="utf-8")
    (sources_dir / "drop_cremation_xlsx.yaml").write_text(XLSX_SOURCE, encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return Drop(settings, catalog, load_sources(sources_dir, catalog), inbox, sources_dir)


def read_report(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


# ----------------------------------------------------------------------------- taking files


def test_complete_files_are_ingested_once_and_moved_with_their_report(drop: Drop) -> None:
    drop.put("2026-03_火化登记.csv", cremation_csv(0, 8, bad_ids=2))
    drop.put("2026-04_火化登记.csv", cremation_csv(100, 5, encoding="gbk"))

    results = drop.folder().run(once=True, interval=LOOK)

    assert [(r.name, r.outcome) for r in results] == [
        ("2026-03_火化登记.csv", "ingested"),
        ("2026-04_火化登记.csv", "ingested"),
    ]
    assert drop.inbox_files() == []
    march = read_report(drop.done() / "2026-03_火化登记.csv.report.json")
    assert (drop.done() / "2026-03_火化登记.csv").is_file()
    assert march["source"] == "drop_cremation"
    assert march["already_ingested"] is False
    assert (march["read"], march["accepted"], march["rejected"]) == (10, 8, 2)
    assert march["rejected_by_reason"] == {"bad_check_character": 2}
    assert march["duplicates"] == 0 and march["not_recipients"] == 0
    assert [e["row"] for e in march["rejected_examples"]] == [10, 11]
    assert isinstance(march["batch_id"], int) and len(march["sha256"]) == 64
    # The report shows where a rejected record is, never a whole ID number.
    text = (drop.done() / "2026-03_火化登记.csv.report.json").read_text(encoding="utf-8")
    assert all(id_number(n) not in text for n in range(PEOPLE))
    april = read_report(drop.done() / "2026-04_火化登记.csv.report.json")
    assert april["accepted"] == 5 and april["batch_id"] != march["batch_id"]
    assert drop.lake_record_ids() == [f"HH{n:06d}" for n in (*range(8), *range(100, 105))]
    # One line per file, without personal data.
    line = results[0].log_line()
    assert line.startswith("2026-03_火化登记.csv: ingested → done [drop_cremation] (batch ")
    assert "8 accepted, 2 rejected" in line


def test_a_file_still_being_written_is_left_alone_until_complete(drop: Drop) -> None:
    tracker = StabilityTracker()
    growing = drop.put("2026-05_火化登记.csv", cremation_csv(0, 3))
    assert tracker.look(drop.inbox) == []  # first look: nothing known yet
    with growing.open("ab") as handle:
        handle.write(f"HH000099,{id_number(1)},李四,2026-05-02\n".encode())
    assert tracker.look(drop.inbox) == []  # it grew since the last look
    assert tracker.look(drop.inbox) == [growing]  # unchanged across two looks: complete

    # Upload names are never taken, however long they stay unchanged.
    assert not is_candidate_name("2026-05_火化登记.csv.part")
    assert not is_candidate_name("2026-05_火化登记.csv.TMP")
    assert not is_candidate_name(".2026-05_火化登记.csv")
    growing.rename(drop.inbox / "2026-05_火化登记.csv.part")
    folder = drop.folder()
    assert folder.run(once=True, interval=LOOK) == []
    assert drop.inbox_files() == ["2026-05_火化登记.csv.part"]

    # The uploader renames it when done: then it is taken.
    (drop.inbox / "2026-05_火化登记.csv.part").rename(growing)
    results = folder.run(once=True, interval=LOOK)
    assert [r.outcome for r in results] == ["ingested"]
    assert read_report(drop.done() / "2026-05_火化登记.csv.report.json")["accepted"] == 4


def test_a_file_no_source_matches_is_moved_to_unmatched_with_the_reason(drop: Drop) -> None:
    drop.put("会议纪要.docx", b"not a feed")
    results = drop.folder().run(once=True, interval=LOOK)
    assert [(r.outcome, r.moved_to.parent.name) for r in results] == [("unmatched", "unmatched")]
    error = (drop.inbox / "unmatched" / "会议纪要.docx.error.txt").read_text(encoding="utf-8")
    assert "what: no source matches this file name" in error
    assert "*_火化登记.csv" in error  # the patterns it could have matched
    assert "where: 会议纪要.docx" in error
    assert "when: " in error
    assert (drop.inbox / "unmatched" / "会议纪要.docx").read_bytes() == b"not a feed"
    assert drop.lake_record_ids() == []


def test_a_file_that_cannot_be_read_is_moved_to_failed_with_the_error(drop: Drop) -> None:
    drop.put("2026-06_火化登记.xlsx", b"PK\x03\x04 this is not really a workbook")
    drop.put("2026-07_火化登记.csv", "火化证号,姓名,火化日期\nHH1,张三,2026-07-01\n".encode())
    results = drop.folder().run(once=True, interval=LOOK)
    assert {r.name: r.outcome for r in results} == {
        "2026-06_火化登记.xlsx": "failed",
        "2026-07_火化登记.csv": "failed",
    }
    failed = drop.inbox / "failed"
    assert sorted(p.name for p in failed.iterdir()) == [
        "2026-06_火化登记.xlsx",
        "2026-06_火化登记.xlsx.error.txt",
        "2026-07_火化登记.csv",
        "2026-07_火化登记.csv.error.txt",
    ]
    missing = (failed / "2026-07_火化登记.csv.error.txt").read_text(encoding="utf-8")
    assert "逝者身份证号" in missing  # names the column the file lacks
    assert "where: " in missing
    broken = (failed / "2026-06_火化登记.xlsx.error.txt").read_text(encoding="utf-8")
    assert broken.startswith("file: 2026-06_火化登记.xlsx\nwhat: ")
    assert drop.lake_record_ids() == []
    assert drop.inbox_files() == []


def test_the_same_file_dropped_twice_is_recognised_and_moved_aside(drop: Drop) -> None:
    content = cremation_csv(0, 6)
    drop.put("2026-03_火化登记.csv", content)
    folder = drop.folder()
    first = folder.run(once=True, interval=LOOK)
    drop.put("2026-03_火化登记.csv", content)  # the department sends it again
    second = folder.run(once=True, interval=LOOK)

    assert [r.outcome for r in first + second] == ["ingested", "already_ingested"]
    assert second[0].batch_id == first[0].batch_id
    again = read_report(drop.done() / "2026-03_火化登记.2.csv.report.json")
    assert again["already_ingested"] is True
    assert again["batch_id"] == first[0].batch_id
    assert again["accepted"] == 0
    assert f"already ingested in batch {first[0].batch_id}" in again["message"]
    assert (drop.done() / "2026-03_火化登记.csv").is_file()
    assert (drop.done() / "2026-03_火化登记.2.csv").is_file()
    assert drop.lake_record_ids() == [f"HH{n:06d}" for n in range(6)]


def test_a_crash_between_the_commit_and_the_move_counts_nothing_twice(drop: Drop) -> None:
    """The batch was committed but the file never moved (the watcher died): on restart the
    file is a no-op and is moved aside."""
    path = drop.put("2026-03_火化登记.csv", cremation_csv(0, 5))
    ingestor = drop.ingestor()
    committed = ingestor.ingest_file(drop.sources["drop_cremation"], path)
    assert committed.accepted == 5

    results = drop.folder().run(once=True, interval=LOOK)
    assert [(r.outcome, r.batch_id) for r in results] == [("already_ingested", committed.batch_id)]
    assert drop.inbox_files() == []
    assert drop.lake_record_ids() == [f"HH{n:06d}" for n in range(5)]


def test_a_crash_between_the_report_and_the_move_keeps_the_first_report(drop: Drop) -> None:
    """The report was written but the file not yet moved: the restart moves the file beside
    that report (not to a new name with a no-op report)."""
    drop.put("2026-03_火化登记.csv", cremation_csv(0, 5))
    folder = drop.folder()
    assert [r.outcome for r in folder.run(once=True, interval=LOOK)] == ["ingested"]
    # Undo the move only, as if the process had died just before it.
    shutil.move(drop.done() / "2026-03_火化登记.csv", drop.inbox / "2026-03_火化登记.csv")

    (second,) = folder.run(once=True, interval=LOOK)
    assert second.outcome == "already_ingested"
    assert second.moved_to == drop.done() / "2026-03_火化登记.csv"
    report = read_report(drop.done() / "2026-03_火化登记.csv.report.json")
    assert report["already_ingested"] is False and report["accepted"] == 5
    assert sorted(p.name for p in drop.done().iterdir()) == [
        "2026-03_火化登记.csv",
        "2026-03_火化登记.csv.report.json",
    ]


# ----------------------------------------------------------------------------- stopping


def run_bounded(folder: DropFolder, **options: Any) -> list[FileResult]:
    """Run the folder in a thread; fail (and stop it) if it does not end within 20 s."""
    stop = threading.Event()
    results: list[FileResult] = []
    thread = threading.Thread(
        target=lambda: results.extend(folder.run(stop=stop, **options)), daemon=True
    )
    thread.start()
    thread.join(timeout=20)
    if thread.is_alive():
        stop.set()
        thread.join(timeout=20)
        pytest.fail(f"the drop folder did not stop by itself with {options}")
    return results


def test_max_files_stops_after_that_many_files(drop: Drop) -> None:
    for month in (3, 4, 5):
        drop.put(f"2026-{month:02d}_火化登记.csv", cremation_csv(month * 100, 2))
    results = run_bounded(drop.folder(), once=False, interval=LOOK, max_files=2)
    assert [r.name for r in results] == ["2026-03_火化登记.csv", "2026-04_火化登记.csv"]
    assert drop.inbox_files() == ["2026-05_火化登记.csv"]


def test_once_stops_after_one_pass_even_with_nothing_to_take(drop: Drop) -> None:
    assert run_bounded(drop.folder(), once=True, interval=LOOK) == []


def test_a_stop_request_finishes_the_current_file_then_stops(drop: Drop) -> None:
    """What Ctrl-C does: the stop event is set while a file is being taken."""
    for month in (3, 4):
        drop.put(f"2026-{month:02d}_火化登记.csv", cremation_csv(month * 100, 2))
    ingestor = drop.ingestor()
    stop = threading.Event()

    def ingest_then_interrupt(source: SourceDefinition, path: Path) -> Any:
        report = ingestor.ingest_file(source, path)
        stop.set()  # Ctrl-C arrives while the first file is being ingested
        return report

    folder = drop.folder(ingestor)
    folder.ingest = ingest_then_interrupt
    results = folder.run(once=False, interval=LOOK, stop=stop)
    assert [r.name for r in results] == ["2026-03_火化登记.csv"]
    assert (drop.done() / "2026-03_火化登记.csv.report.json").is_file()
    assert drop.inbox_files() == ["2026-04_火化登记.csv"]


# ----------------------------------------------------------------------------- the command

# The `lifesign` command, run by this interpreter (the venv's console script may not be on PATH).
LIFESIGN = "from lifesign.cli import main\nmain()\n"


def lifesign_command(drop: Drop, *arguments: str) -> list[str]:
    return [sys.executable, "-c", LIFESIGN, "--home", str(drop.settings.home), *arguments]


def command_environment(drop: Drop) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LIFESIGN_")}
    environment["LIFESIGN_SOURCES"] = str(drop.sources_dir)
    return environment


def test_the_watch_command_once(drop: Drop) -> None:
    drop.put("2026-03_火化登记.csv", cremation_csv(0, 4, bad_ids=1))
    drop.put("readme.txt", b"hello")
    done = subprocess.run(
        lifesign_command(
            drop,
            "ingest",
            "watch",
            str(drop.inbox),
            "--once",
            "--interval",
            "0.05",
            "--as-of",
            AS_OF.isoformat(),
        ),
        env=command_environment(drop),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"looking at {drop.inbox} once")
    assert any(
        line.startswith("2026-03_火化登记.csv: ingested → done [drop_cremation] (batch ")
        and "4 accepted, 1 rejected" in line
        for line in lines
    )
    assert any(line.startswith("readme.txt: unmatched → unmatched") for line in lines)
    assert lines[-1] == "2 file(s) taken"
    assert all(id_number(n) not in done.stdout + done.stderr for n in range(PEOPLE))
    today = dt.date.today().isoformat()
    assert (drop.inbox / "done" / today / "2026-03_火化登记.csv.report.json").is_file()


def test_ctrl_c_stops_the_watch_command_cleanly(drop: Drop) -> None:
    process = subprocess.Popen(
        lifesign_command(
            drop,
            "ingest",
            "watch",
            str(drop.inbox),
            "--interval",
            "0.05",
            "--as-of",
            AS_OF.isoformat(),
        ),
        env=command_environment(drop),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"watching {drop.inbox}")
        drop.put("2026-03_火化登记.csv", cremation_csv(0, 3))
        taken = process.stdout.readline()
        assert taken.startswith("2026-03_火化登记.csv: ingested → done"), taken
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.splitlines()[-1] == "1 file(s) taken"
    assert "stopping after the current file" in err
