"""The commands: lifesign run / run status / run confirm-suspensions, visit list / record,
certify self-service / counter — output masked, never a full ID number or phone."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select

from lifesign.cli import cli
from lifesign.lifecycle.models import VisitTask
from lifesign.store.models import Person
from tests.lifecycle.conftest import LifecycleCity, home_with_registry

FULL_ID = re.compile(r"(?<!\d)\d{17}[\dX](?!\d)")
FULL_PHONE = re.compile(r"(?<!\d)1\d{10}(?!\d)")


def invoke(home: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--home", str(home), *args], catch_exceptions=False, env={"LIFESIGN_DATABASE_URL": ""}
    )
    assert result.exit_code == 0, result.output
    assert not FULL_ID.search(result.output) and not FULL_PHONE.search(result.output)
    return result.output


def test_the_commands_of_a_day(lifecycle_city: LifecycleCity, tmp_path: Path) -> None:
    settings, engine = home_with_registry(
        tmp_path, f"sqlite:///{tmp_path / 'home' / 'lifesign.db'}", lifecycle_city
    )
    home = settings.home
    report = invoke(home, "run", "--as-of", "2024-12-01", "--settle-seconds", "0")
    assert "run 1 as of 2024-12-01: finished" in report
    assert "suspension spike" in report and "held" in report

    status = invoke(home, "run", "status")
    assert "held suspensions waiting" in status and "suspension_spike" in status

    confirmed = invoke(home, "run", "confirm-suspensions", "1", "--officer", "王科长")
    assert re.search(r"run 1: [1-9]\d* suspension\(s\) applied", confirmed)
    assert "no held suspension waiting" in invoke(home, "run", "status")

    listing = invoke(home, "visit", "list")
    assert "task(s)" in listing and "****" in listing
    with engine.connect() as connection:
        task_id, person_id = connection.execute(
            select(VisitTask.__table__.c.task_id, VisitTask.__table__.c.person_id)
            .where(VisitTask.__table__.c.status == "open")
            .limit(1)
        ).one()
        grid = connection.execute(
            select(VisitTask.__table__.c.grid_code).where(VisitTask.__table__.c.task_id == task_id)
        ).scalar_one()
        others = connection.execute(
            select(Person.__table__.c.id_number).where(Person.__table__.c.person_id != person_id)
        ).scalars()
        id_number = next(iter(others))
    assert f"grid {grid}" in invoke(home, "visit", "list", "--grid", str(grid))
    assert "no visit task" in invoke(home, "visit", "list", "--due-before", "2024-01-01")
    recorded = invoke(
        home,
        "visit",
        "record",
        str(task_id),
        "--outcome",
        "seen_alive",
        "--at",
        "2024-12-02T10:00",
        "--worker",
        "张网格员",
    )
    assert f"task {task_id}: seen alive recorded (decision" in recorded

    face = invoke(
        home,
        "certify",
        "self-service",
        id_number,
        "--at",
        "2024-12-02T09:00",
        "--outcome",
        "fail",
        "--reference",
        "F-1",
    )
    assert "fail recorded, not certified" in face
    face = invoke(
        home,
        "certify",
        "self-service",
        id_number,
        "--at",
        "2024-12-02T09:05",
        "--outcome",
        "pass",
        "--reference",
        "F-2",
    )
    assert "certified by self-service" in face
    counter = invoke(
        home, "certify", "counter", id_number, "--at", "2024-12-03T09:00", "--officer", "李娜"
    )
    assert "certified at the counter by 李娜" in counter
    engine.dispose()


def _counter_certification(lifecycle_city: LifecycleCity, tmp_path: Path, id_number: str) -> Result:
    """`lifesign certify counter` of this ID number, in a home with the city's registry."""
    settings, engine = home_with_registry(
        tmp_path, f"sqlite:///{tmp_path / 'home' / 'lifesign.db'}", lifecycle_city
    )
    engine.dispose()
    return CliRunner().invoke(
        cli,
        [
            "--home",
            str(settings.home),
            "certify",
            "counter",
            id_number,
            "--at",
            "2024-12-03T09:00",
            "--officer",
            "李娜",
        ],
        env={"LIFESIGN_DATABASE_URL": ""},
    )


def test_an_unknown_id_number_is_a_clear_masked_error(
    lifecycle_city: LifecycleCity, tmp_path: Path
) -> None:
    result = _counter_certification(lifecycle_city, tmp_path, "11010519491231002X")
    assert result.exit_code == 2
    assert "no recipient with ID number" in result.output
    assert "11010519491231002X" not in result.output


def test_an_invalid_id_number_is_a_clear_error_not_a_crash(
    lifecycle_city: LifecycleCity, tmp_path: Path
) -> None:
    # the check character should be X
    result = _counter_certification(lifecycle_city, tmp_path, "110105194912310021")
    assert result.exit_code == 2, result.output
    assert "the ID number is not valid" in result.output
    assert "bad_check_character" in result.output
    assert "110105194912310021" not in result.output
