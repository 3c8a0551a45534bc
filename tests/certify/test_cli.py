"""`lifesign certify pass`, `lifesign review ...`, `lifesign person show` on a tiny city made by
a policy case (the pass itself runs through the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from lifesign.cli import cli
from lifesign.registry.ids import mask_id_number
from tests.policy.framework import load_step_modules, run_case

CASE = yaml.safe_load(
    """
name: cli
as_of: 2025-06-30
registry:
  people: [{id: A, last_certified_on: 2024-08-01}, {id: B, last_certified_on: 2024-08-01}]
  enrollments:
    - {id: A-pension, person: A, program: resident_pension}
    - {id: B-pension, person: B, program: resident_pension}
evidence:
  - {person: A, source: tielu_boarding, record_id: T1, type: rail_boarding, time: 2025-03-03}
  - {person: B, source: gongan_cancellation, record_id: X1, type: ps_household_cancellation,
     time: 2025-03-01}
  - {person: B, source: tielu_boarding, record_id: T2, type: rail_boarding, time: 2025-04-02}
actions: [{pass: {as_of: 2024-12-31}}]  # nothing has arrived yet
"""
)


def invoke(home: Path, url: str, *args: str) -> Any:
    result = CliRunner().invoke(
        cli, ["--home", str(home), *args], env={"LIFESIGN_DATABASE_URL": url, "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    return result


def test_pass_review_and_person_commands(database_url: str, tmp_path: Path) -> None:
    load_step_modules()
    home = tmp_path / "home"
    run = run_case(CASE, home, database_url)
    run.deliver_evidence(run.as_of)
    output = invoke(home, database_url, "certify", "pass", "--as-of", "2025-06-30").output
    assert "certified (silent)" in output and "reviews opened" in output
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in output.splitlines()
        if line.count("│") == 3
    }
    assert lines["certified (silent)"] == "1"
    assert lines["reviews opened"] == "1"

    listed = invoke(home, database_url, "review", "list").output
    assert "death_record_but_alive_later" in listed
    shown = invoke(home, database_url, "review", "show", "1").output
    assert "X1" in shown and "T2" in shown and "rail_boarding" in shown
    resolved = invoke(
        home, database_url, "review", "resolve", "1", "--decision", "alive",
        "--reason", "seen at the counter", "--on", "2025-07-01",
    ).output  # fmt: skip
    assert "resolved: alive" in resolved

    person = invoke(home, database_url, "person", "show", run.id_numbers["A"]).output
    assert run.id_numbers["A"] not in person  # masked
    assert mask_id_number(run.id_numbers["A"]) in person
    assert "certified by auto (every benefit), valid until 2026-03-03" in person
    assert "rule strong_alive_certifies" in person and "T1" in person
    assert "A-pension" in person and "active" in person
    for label in ("A", "B"):
        for text in (listed, shown, person):
            assert run.id_numbers[label] not in text
