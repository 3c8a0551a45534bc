"""Registry import (docs/registry-format.md) on SQLite and PostgreSQL, API and CLI.

All data is synthetic: ID numbers are made valid by their own check character.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, func, select

from lifesign.errors import LifesignError
from lifesign.registry.ids import check_character
from lifesign.registry.importer import (
    ImportReport,
    RegistryImporter,
    RegistryRules,
    rules_from_catalog,
)
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store import head_revision
from lifesign.store.models import Batch, Enrollment, ImportRejection, Payment, Person

TODAY = dt.date(2026, 1, 1)
GRID = "341602001001001"  # a grid of the packaged catalog
GRID2 = "341602001001002"
SECRET = b"synthetic-test-secret-0123456789"


def make_id(region: str, born: str, sequence: int) -> str:
    first17 = f"{region}{born}{sequence:03d}"
    return first17 + check_character(first17)


def id_with_x() -> str:
    for sequence in range(1, 999):
        number = make_id("341621", "19420808", sequence)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives X")


A = make_id("341602", "19500101", 11)  # man
B_OLD = "341602480315022"  # 15-digit: born 1948-03-15, woman
B = make_id("341602", "19480315", 22)
C = id_with_x()  # written with a lowercase x
D = make_id("341622", "19450505", 31)  # rejected in people.csv (no name)
E = make_id("341623", "19390909", 41)
BAD_CHECK = A[:-1] + ("0" if A[-1] != "0" else "1")
ALL_IDS = (A, B, B_OLD, C, D, E, BAD_CHECK)


def write(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)


PEOPLE_HEADER = [
    "id_number",
    "name",
    "sex",
    "birth_date",
    "phone",
    "grid_code",
    "address",
    "household_id",
]
ENROLLMENT_HEADER = [
    "enrollment_id",
    "id_number",
    "program",
    "start_date",
    "end_date",
    "monthly_amount",
    "status",
]
PAYMENT_HEADER = ["enrollment_id", "period", "amount", "paid_on"]


def good_registry(folder: Path, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write(
        folder / "people.csv",
        [
            PEOPLE_HEADER,
            [A, "张伟", "M", "1950-01-01", "13800138000", GRID, "谯城区花戏楼街道1号", "H1"],
            [B_OLD, "李秀英", "女", "", "", GRID2, "", "H1"],
            [C.lower(), "王芳", "", "1942-08-08", "138 0013 8001", GRID, "", ""],
        ],
        encoding,
    )
    write(
        folder / "enrollments.csv",
        [
            ENROLLMENT_HEADER,
            ["E1", A, "resident_pension", "2020-01-01", "", "150", "active"],
            ["E2", B, "resident_pension", "2019-06-01", "", "150.50", "active"],
            ["E3", C.lower(), "longevity_allowance", "2022-08-01", "", "100", "active"],
            ["E4", A, "dibao", "2021-01-01", "2023-12-31", "700", "terminated"],
        ],
        encoding,
    )
    write(
        folder / "payments.csv",
        [
            PAYMENT_HEADER,
            ["E1", "2024-01", "150", "2024-01-10"],
            ["E1", "2024-02", "150", "2024-02-10"],
            ["E2", "2024-01", "150.50", "2024-01-10"],
            ["E3", "2024-01", "100", "2024-01-12"],
        ],
        encoding,
    )
    return folder


def bad_registry(folder: Path, encoding: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write(
        folder / "people.csv",
        [
            PEOPLE_HEADER,
            [A, "张伟", "M", "1950-01-01", "13800138000", GRID, "谯城区", "H1"],  # 2 good
            [BAD_CHECK, "赵敏", "", "", "", GRID, "", ""],  # 3 bad check character
            [B_OLD, "李秀英", "", "", "", GRID, "", ""],  # 4 good (15 digits)
            [C.lower(), "王芳", "", "", "", GRID, "", ""],  # 5 good (lowercase x)
            [D, "", "", "", "", GRID, "", ""],  # 6 name missing
            [E, "孙丽", "Q", "", "", GRID, "", ""],  # 7 bad sex
            [make_id("341602", "19510101", 13), "周强", "F", "", "", GRID, "", ""],  # 8 mismatch
            [make_id("341602", "19520202", 15), "吴洋", "", "1952-02-03", "", GRID, "", ""],  # 9
            [make_id("341602", "19530303", 17), "郑涛", "", "", "12345", GRID, "", ""],  # 10
            [make_id("341602", "19540404", 19), "黄娟", "", "", "", "999", "", ""],  # 11 grid
            [A, "张伟", "M", "", "", GRID, "", ""],  # 12 duplicate of line 2
            [make_id("341602", "19550505", 21), "陈杰", "", "1955-02-30", "", GRID, "", ""],  # 13
            ["3416021950", "刘明", "", "", "", GRID, "", ""],  # 14 bad length
            [make_id("341602", "19560606", 23), "杨超"],  # 15 too few cells
        ],
        encoding,
    )
    write(
        folder / "enrollments.csv",
        [
            ENROLLMENT_HEADER,
            ["E1", A, "resident_pension", "2020-01-01", "", "150", "active"],  # 2 good
            ["E2", B_OLD, "resident_pension", "2020-01-01", "", "150", "active"],  # 3 good
            ["E3", D, "resident_pension", "2020-01-01", "", "150", "active"],  # 4 unknown person
            ["E5", A, "no_such_program", "2020-01-01", "", "150", "active"],  # 5
            ["E6", A, "dibao", "2020-01-01", "", "abc", "active"],  # 6 bad amount
            ["E7", A, "dibao", "2020-01-01", "", "700", "paused"],  # 7 bad status
            ["E8", A, "dibao", "2020-01-01", "2019-12-31", "700", "terminated"],  # 8
            ["E1", A, "dibao", "2020-01-01", "", "700", "active"],  # 9 duplicate
            ["E9", A, "dibao", "2020-13-01", "", "700", "active"],  # 10 bad date
            ["E4", C, "longevity_allowance", "2022-08-01", "", "100", "active"],  # 11 good
        ],
        encoding,
    )
    write(
        folder / "payments.csv",
        [
            PAYMENT_HEADER,
            ["E1", "2024-01", "150", "2024-01-10"],  # 2 good
            ["E1", "2024-02", "150", "2024-02-10"],  # 3 good
            ["E2", "2024-01", "150", "2024-01-10"],  # 4 good
            ["E1", "2024-01", "150", "2024-01-11"],  # 5 duplicate
            ["E3", "2024-01", "150", "2024-01-10"],  # 6 enrollment was rejected
            ["E1", "2024-13", "150", "2024-01-10"],  # 7 bad period
            ["E1", "2024-03", "0", "2024-03-10"],  # 8 bad amount
            ["E1", "2024-04", "150", "10/04/2024"],  # 9 bad date
        ],
        encoding,
    )
    return folder


EXPECTED_REJECTIONS = {
    ("people.csv", 3, "id_number", "bad_check_character"),
    ("people.csv", 6, "name", "missing"),
    ("people.csv", 7, "sex", "bad_sex"),
    ("people.csv", 8, "sex", "sex_mismatch"),
    ("people.csv", 9, "birth_date", "birth_date_mismatch"),
    ("people.csv", 10, "phone", "bad_phone"),
    ("people.csv", 11, "grid_code", "unknown_grid"),
    ("people.csv", 12, "id_number", "duplicate"),
    ("people.csv", 13, "birth_date", "bad_date"),
    ("people.csv", 14, "id_number", "bad_length"),
    ("people.csv", 15, None, "bad_row"),
    ("enrollments.csv", 4, "id_number", "unknown_person"),
    ("enrollments.csv", 5, "program", "unknown_program"),
    ("enrollments.csv", 6, "monthly_amount", "bad_amount"),
    ("enrollments.csv", 7, "status", "bad_status"),
    ("enrollments.csv", 8, "end_date", "end_before_start"),
    ("enrollments.csv", 9, "enrollment_id", "duplicate"),
    ("enrollments.csv", 10, "start_date", "bad_date"),
    ("payments.csv", 5, "enrollment_id", "duplicate"),
    ("payments.csv", 6, "enrollment_id", "unknown_enrollment"),
    ("payments.csv", 7, "period", "bad_period"),
    ("payments.csv", 8, "amount", "bad_amount"),
    ("payments.csv", 9, "paid_on", "bad_date"),
}


@pytest.fixture(scope="session")
def rules() -> RegistryRules:
    return rules_from_catalog(None)


@pytest.fixture
def importer(engine: Engine, rules: RegistryRules) -> RegistryImporter:
    return RegistryImporter(engine, Pseudonymizer(SECRET), rules, today=TODAY)


def count(engine: Engine, model: type[object]) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def by_kind(report: ImportReport) -> dict[str, dict[str, object]]:
    return {f.kind: f.counts() for f in report.files}


def assert_no_full_id(text: str) -> None:
    for number in ALL_IDS:
        assert number not in text
        assert number.lower() not in text


def test_import_small_registry(engine: Engine, importer: RegistryImporter, tmp_path: Path) -> None:
    report = importer.import_dir(good_registry(tmp_path / "reg"))
    counts = by_kind(report)
    assert counts["people"]["inserted"] == 3
    assert counts["enrollments"]["inserted"] == 4
    assert counts["payments"]["inserted"] == 4
    assert all(f.rejected == 0 for f in report.files)
    with engine.connect() as connection:
        people = {
            row.id_number: row
            for row in connection.execute(
                select(Person.id_number, Person.sex, Person.birth_date, Person.phone, Person.name)
            )
        }
        assert set(people) == {A, B, C}  # normalised: 15 digits converted, x upper-cased
        assert people[B].sex == "F" and people[B].birth_date == dt.date(1948, 3, 15)
        assert people[C].phone == "13800138001"
        assert people[A].name == "张伟"
        amounts = dict(
            connection.execute(select(Enrollment.external_ref, Enrollment.monthly_amount)).all()
        )
        assert amounts["E2"] == Decimal("150.50")
        person_of = dict(
            connection.execute(
                select(Enrollment.external_ref, Person.id_number).join(
                    Person, Person.person_id == Enrollment.person_id
                )
            ).all()
        )
        assert person_of == {"E1": A, "E2": B, "E3": C, "E4": A}
        batches = connection.execute(select(Batch.source, Batch.status, Batch.sha256)).all()
        assert [(b.source, b.status) for b in batches] == [
            ("people", "committed"),
            ("enrollments", "committed"),
            ("payments", "committed"),
        ]
        assert all(len(b.sha256) == 64 for b in batches)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_bad_rows_are_rejected_and_good_rows_imported(
    engine: Engine, importer: RegistryImporter, tmp_path: Path, encoding: str
) -> None:
    report = importer.import_dir(bad_registry(tmp_path / "reg", encoding))
    people_file = report.files[0]
    assert people_file.encoding == ("gb18030" if encoding == "gbk" else "utf-8")
    with engine.connect() as connection:
        stored = connection.execute(
            select(
                ImportRejection.file,
                ImportRejection.line,
                ImportRejection.field,
                ImportRejection.reason,
                ImportRejection.value,
                ImportRejection.message,
            )
        ).all()
        assert {(r.file, r.line, r.field, r.reason) for r in stored} == EXPECTED_REJECTIONS
        assert_no_full_id(repr(stored))
        phones = [r.value for r in stored if r.field == "phone"]
        assert phones == ["123*5"] or all("*" in p for p in phones)
        people = set(connection.execute(select(Person.id_number)).scalars())
        assert people == {A, B, C}
        names = set(connection.execute(select(Person.name)).scalars())
        assert names == {"张伟", "李秀英", "王芳"}  # Chinese names survive GBK
        refs = set(connection.execute(select(Enrollment.external_ref)).scalars())
        assert refs == {"E1", "E2", "E4"}
        assert count(engine, Payment) == 3
    counts = by_kind(report)
    assert counts["people"]["read"] == 14
    assert counts["people"]["rejected"] == 11
    assert counts["enrollments"]["rejected"] == 7
    assert counts["payments"]["rejected"] == 5
    assert counts["people"]["duplicates"] == 1


def test_reimport_is_a_noop(engine: Engine, importer: RegistryImporter, tmp_path: Path) -> None:
    folder = bad_registry(tmp_path / "reg", "utf-8")
    first = importer.import_dir(folder)
    sizes = {m: count(engine, m) for m in (Person, Enrollment, Payment, Batch, ImportRejection)}
    second = importer.import_dir(folder)
    assert [f.already_imported_in for f in second.files] == [f.batch_id for f in first.files]
    assert [(f.read, f.rejected, f.inserted) for f in second.files] == [
        (f.read, f.rejected, 0) for f in first.files
    ]
    assert {m: count(engine, m) for m in sizes} == sizes


def test_changed_file_imports_only_the_delta(
    engine: Engine, importer: RegistryImporter, tmp_path: Path
) -> None:
    folder = good_registry(tmp_path / "reg")
    importer.import_dir(folder)
    with engine.connect() as connection:
        before = dict(connection.execute(select(Person.id_number, Person.updated_at)).all())
    rows = list(csv.reader((folder / "people.csv").open(encoding="utf-8")))
    rows[1][4] = "13900139000"  # A changed phone
    rows.append([E, "孙丽", "", "", "", GRID, "", "H9"])  # a new person
    write(folder / "people.csv", rows)
    enrollments = list(csv.reader((folder / "enrollments.csv").open(encoding="utf-8")))
    enrollments[1][6] = "suspended"  # E1 suspended
    write(folder / "enrollments.csv", enrollments)
    report = by_kind(importer.import_dir(folder))
    assert (report["people"]["inserted"], report["people"]["updated"]) == (1, 1)
    assert report["people"]["unchanged"] == 2
    assert (report["enrollments"]["inserted"], report["enrollments"]["updated"]) == (0, 1)
    assert report["enrollments"]["unchanged"] == 3
    assert "payments" in report  # unchanged file: same hash, nothing done
    with engine.connect() as connection:
        phone = connection.execute(select(Person.phone).where(Person.id_number == A)).scalar()
        assert phone == "13900139000"
        status = connection.execute(
            select(Enrollment.status).where(Enrollment.external_ref == "E1")
        ).scalar()
        assert status == "suspended"
        after = dict(connection.execute(select(Person.id_number, Person.updated_at)).all())
        assert after[B] == before[B]
        assert count(engine, Person) == 4


def test_enrollments_may_refer_to_people_already_in_the_registry(
    engine: Engine, importer: RegistryImporter, tmp_path: Path
) -> None:
    importer.import_dir(good_registry(tmp_path / "first"))
    later = tmp_path / "later"
    later.mkdir()
    write(
        later / "enrollments.csv",
        [
            ENROLLMENT_HEADER,
            ["E10", B_OLD, "elderly_care_subsidy", "2024-01-01", "", "100", "active"],
        ],
    )
    report = importer.import_dir(later)
    assert by_kind(report)["enrollments"]["inserted"] == 1


def test_missing_required_column_names_file_and_column(
    engine: Engine, importer: RegistryImporter, tmp_path: Path
) -> None:
    folder = tmp_path / "reg"
    folder.mkdir()
    write(folder / "people.csv", [["id_number", "name"], [A, "张伟"]])
    with pytest.raises(LifesignError) as caught:
        importer.import_dir(folder)
    assert "grid_code" in str(caught.value) and "people.csv:1" in str(caught.value)
    with engine.connect() as connection:
        assert connection.execute(select(Batch.status)).scalar_one() == "failed"
    # after the file is fixed, the same import runs
    write(folder / "people.csv", [["id_number", "name", "grid_code"], [A, "张伟", GRID]])
    assert by_kind(importer.import_dir(folder))["people"]["inserted"] == 1


def test_utf8_with_bom(engine: Engine, importer: RegistryImporter, tmp_path: Path) -> None:
    report = importer.import_dir(good_registry(tmp_path / "reg", "utf-8-sig"))
    assert {f.encoding for f in report.files} == {"utf-8-sig"}
    assert by_kind(report)["people"]["inserted"] == 3


# --- the CLI: `lifesign registry import/stats`, `lifesign db` ----------------------------


@pytest.fixture
def cli() -> click.Group:
    try:
        from lifesign.cli import cli
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith(("lifesign.registry", "lifesign.store")):
            raise
        pytest.skip(f"the CLI root cannot be imported yet: {error}")
    return cli


@pytest.fixture
def run(
    cli: click.Group, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("LIFESIGN_DATABASE_URL", database_url)
    monkeypatch.delenv("LIFESIGN_CATALOG", raising=False)
    return CliRunner()


def invoke(runner: CliRunner, cli: click.Group, home: Path, *args: str) -> str:
    result = runner.invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_import_reports_and_never_shows_full_ids(
    run: CliRunner, cli: click.Group, database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    folder = bad_registry(tmp_path / "reg", "gbk")
    rejects = tmp_path / "rejects.csv"
    output = invoke(run, cli, home, "registry", "import", str(folder), "--rejects", str(rejects))
    assert "people.csv" in output and "bad_check_character" in output
    assert "unknown_person" in output and "unknown_enrollment" in output
    assert_no_full_id(output)
    rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert len(rows) == 23
    assert {(r["file"], r["line"], r["reason"]) for r in rows} >= {
        ("people.csv", "3", "bad_check_character"),
        ("enrollments.csv", "4", "unknown_person"),
        ("payments.csv", "6", "unknown_enrollment"),
    }
    assert_no_full_id(rejects.read_text(encoding="utf-8"))
    engine = create_engine(database_url)
    with engine.connect() as connection:
        values = connection.execute(select(ImportRejection.value, ImportRejection.message)).all()
    engine.dispose()
    assert_no_full_id(repr(values))

    again = invoke(run, cli, home, "registry", "import", str(folder))
    assert "already imported in batch 1" in again
    assert "already imported in batch 3" in again
    assert_no_full_id(again)


def test_stats_and_db_commands(
    run: CliRunner, cli: click.Group, database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    upgraded = invoke(run, cli, home, "db", "upgrade")
    assert f"revision {head_revision()}" in upgraded
    current = invoke(run, cli, home, "db", "current")
    assert "up to date" in current
    assert "lifesign:lifesign@" not in current  # password hidden
    invoke(run, cli, home, "registry", "import", str(good_registry(tmp_path / "reg")))
    stats = invoke(run, cli, home, "registry", "stats")
    assert "people: 3" in stats
    assert "resident_pension" in stats and "2024-01" in stats
    assert "total paid: 550.50 yuan" in stats
    for number in (A, B, *ALL_IDS):
        assert number not in stats


def test_last_certification_columns_are_optional_and_checked(
    engine: Engine, importer: RegistryImporter, tmp_path: Path
) -> None:
    folder = tmp_path / "reg"
    folder.mkdir()
    header = ["id_number", "name", "grid_code", "last_certified_on", "last_certification_channel"]
    write(
        folder / "people.csv",
        [
            header,
            [A, "张伟", GRID, "2025-03-04", "counter"],
            [B, "李秀英", GRID, "", ""],
            [C, "王芳", GRID, "2025-02-30", "counter"],  # not a date
            [E, "赵敏", GRID, "2025-05-01", "by_mail"],  # unknown channel
            [D, "刘洋", GRID, "2026-06-01", "self_service"],  # after today (2026-01-01)
        ],
    )
    report = importer.import_dir(folder)
    people = report.files[0]
    assert people.inserted == 2
    assert people.reasons == {"bad_date": 1, "bad_channel": 1, "future_date": 1}
    with engine.connect() as connection:
        rows = dict(
            connection.execute(
                select(Person.id_number, Person.last_certified_on).order_by(Person.id_number)
            ).all()
        )
        channels = set(connection.execute(select(Person.last_certification_channel)).scalars())
    assert rows == {A: dt.date(2025, 3, 4), B: None}
    assert channels == {"counter", None}
