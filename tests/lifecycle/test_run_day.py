"""The daily run on a small synthetic city: what it does, idempotency, crash safety."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select, text

from lifesign.catalog import load_catalog
from lifesign.lifecycle.models import Run
from lifesign.lifecycle.run import confirm_suspensions, run_day
from tests.lifecycle.conftest import (
    LifecycleCity,
    drop_into_inbox,
    home_with_registry,
    row_counts,
)

FIRST_DAY = dt.date(2024, 12, 1)


def test_a_day_of_the_city_and_the_same_day_again_changes_nothing(
    lifecycle_city: LifecycleCity, database_url: str, tmp_path: Path
) -> None:
    settings, engine = home_with_registry(tmp_path, database_url, lifecycle_city)
    files = lifecycle_city.files_until(FIRST_DAY - dt.timedelta(days=1))
    drop_into_inbox(settings, files)
    steps: list[str] = []
    report = run_day(settings, FIRST_DAY, settle_seconds=0, engine=engine, progress=steps.append)
    assert steps[0] == "ingest" and steps[-1] == "done" and "suspensions" in steps
    assert report.status == "finished"
    assert sum(1 for f in report.files if f.outcome == "ingested") == len(files)
    assert report.certified > 0
    counts = report.counts
    # certifications of the registry spread over the 12 months before the window: on the first
    # day a month's worth of people are past their expiry at once — far above a normal day,
    # so the guard holds them for an officer
    assert counts["suspended"] == 0
    assert counts["held"] > 0 and counts["held_by_rule"] == {"suspension_spike": counts["held"]}
    assert any(w.startswith("suspension spike") for w in report.guard["warnings"])
    confirmed = confirm_suspensions(
        engine, load_catalog(None), report.run_id, officer="王科长", on=FIRST_DAY
    )
    assert confirmed.applied == counts["held"] and confirmed.released == 0
    assert sum(counts["reminders"].values()) > 0
    assert counts["visit_tasks"] > 0
    assert counts["messages"] > 0
    lines = "\n".join(report.lines())
    assert "suspended" in lines and "reminders" in lines
    before = row_counts(engine)
    again = run_day(settings, FIRST_DAY, settle_seconds=0, engine=engine)
    after = row_counts(engine)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert again.run_id == report.run_id
    assert again.counts["messages"] == counts["messages"]  # the re-run added zero
    with engine.connect() as connection:
        attempts = connection.execute(
            select(Run.__table__.c.attempts).where(Run.__table__.c.as_of == FIRST_DAY)
        ).scalar_one()
    assert attempts == 2
    engine.dispose()


def test_next_day_runs_only_what_came_due(
    lifecycle_city: LifecycleCity, database_url: str, tmp_path: Path
) -> None:
    settings, engine = home_with_registry(tmp_path, database_url, lifecycle_city)
    drop_into_inbox(
        settings,
        lifecycle_city.files_until(
            FIRST_DAY - dt.timedelta(days=1), FIRST_DAY - dt.timedelta(days=7)
        ),
    )
    first = run_day(settings, FIRST_DAY, settle_seconds=0, engine=engine)
    drop_into_inbox(settings, lifecycle_city.files_until(FIRST_DAY, FIRST_DAY))
    second = run_day(settings, FIRST_DAY + dt.timedelta(days=1), settle_seconds=0, engine=engine)
    assert second.run_id != first.run_id
    # one day's expiries, not the catch-up of the first day (held for an officer): no spike
    assert second.counts["suspensions_due"] < first.counts["suspensions_due"]
    assert not second.counts.get("held_by_rule", {}).get("suspension_spike")
    with engine.connect() as connection:
        duplicates = connection.execute(
            text(
                "SELECT count(*) FROM (SELECT enrollment_id FROM decisions WHERE kind = "
                "'suspended' GROUP BY enrollment_id HAVING count(*) > 1) AS twice"
            )
        ).scalar_one()
    assert duplicates == 0
    engine.dispose()


def _run_cli(home: Path, as_of: dt.date, fault: str | None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, LIFESIGN_LAKE_FSYNC="0")
    environment.pop("LIFESIGN_FAULT_POINT", None)
    environment.pop("LIFESIGN_DATABASE_URL", None)
    if fault:
        environment["LIFESIGN_FAULT_POINT"] = fault
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "lifesign"),
            "--home",
            str(home),
            "run",
            "--as-of",
            as_of.isoformat(),
            "--settle-seconds",
            "0",
        ],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )


def test_a_run_killed_mid_way_reruns_to_the_same_state(
    lifecycle_city: LifecycleCity, tmp_path: Path
) -> None:
    # a few days of feeds: enough for every step to act, small enough for seven runs
    files = lifecycle_city.files_until(
        FIRST_DAY - dt.timedelta(days=1), FIRST_DAY - dt.timedelta(days=4)
    )
    results: dict[str, dict[str, int]] = {}
    for label, faults in (
        ("clean", [None]),
        ("after_ingest", ["after_ingest", None]),
        ("after_pass", ["after_pass", None]),
        ("mid_lifecycle", ["mid_lifecycle", None]),
    ):
        base = tmp_path / label
        settings, engine = home_with_registry(
            base, f"sqlite:///{base / 'home' / 'lifesign.db'}", lifecycle_city
        )
        engine.dispose()
        drop_into_inbox(settings, files)
        for fault in faults:
            done = _run_cli(settings.home, FIRST_DAY, fault)
            if fault:
                assert done.returncode == -9, done.stderr
            else:
                assert done.returncode == 0, done.stderr
                assert "suspended" in done.stdout
        from lifesign.store import make_engine

        engine = make_engine(settings.database_url)
        counts = row_counts(engine)
        with engine.connect() as connection:
            status = connection.execute(select(Run.__table__.c.status)).scalar_one()
        engine.dispose()
        assert status == "finished"
        counts.pop("runs", None)
        results[label] = counts
    clean = results.pop("clean")
    for label, counts in results.items():
        differ = {k: (clean[k], counts[k]) for k in clean if clean[k] != counts.get(k)}
        assert not differ, f"{label}: {differ}"
