"""`lifesign demo` end to end on a tiny city (a few replayed days): every report section."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from lifesign.cli import cli


def test_demo_runs_end_to_end_and_prints_the_report(tmp_path: Path) -> None:
    os.environ.setdefault("LIFESIGN_LAKE_FSYNC", "0")
    home = tmp_path / "home"
    runner = CliRunner()
    args = [
        "--home", str(home), "demo", "--recipients", "120", "--seed", "5", "--days", "4",
        "--no-serve",
    ]  # fmt: skip
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    for section in (
        "1/5 catalog",
        "2/5 synthetic city",
        "3/5 registry",
        "4/5 history",
        "5/5 what the year did",
        "recipients",
        "silently, from data",
        "by face on a phone",
        "at a service counter",
        "by a home visit",
        "not certified in the year",
        "suspended at the end",
        "died, benefits terminated",
        "days to detection",
        "overpayments found",
        "fraud cases",
        "messages sent",
        "score: 0 dead people certified after their death",
        "4 day(s) replayed",
        "demo logins",
        "worker",
        "demo-worker-2026",
        "serve",
    ):
        assert section in out, section
    assert (home / "city" / "truth" / "people.csv").is_file()
    assert (home / "lifesign.db").is_file()
    # run again: the same city is kept, nothing is replayed twice
    again = runner.invoke(cli, args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "already made" in again.output and "0 day(s) replayed" in again.output
    # another city in the same home is refused with a clear message
    other = runner.invoke(
        cli, [*args[:3], "--recipients", "130", "--seed", "5", "--days", "4", "--no-serve"]
    )
    assert other.exit_code != 0 and "another --home" in other.output
