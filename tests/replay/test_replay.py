"""A small city replayed through the daily run: files on their days, resumable, scored."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

from lifesign.config import load_settings
from lifesign.replay.release import load_delays, plan_releases, releases_between
from lifesign.replay.runner import Replay, default_period
from lifesign.replay.score import score
from lifesign.replay.truth import read_people, read_window
from lifesign.store import open_database

if TYPE_CHECKING:
    from .conftest import ReplayedHome


def run_days(home: ReplayedHome) -> list[dt.date]:
    engine = open_database(home.settings)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT as_of FROM runs WHERE status = 'finished' ORDER BY as_of")
        )
        return [r.as_of if isinstance(r.as_of, dt.date) else dt.date.fromisoformat(r.as_of)
                for r in rows]  # fmt: skip


def test_each_day_takes_the_files_released_that_day(replayed: ReplayedHome) -> None:
    releases = plan_releases(replayed.city / "feeds", load_delays())
    done = replayed.settings.home / "inbox" / "done"
    day = replayed.first
    while day <= replayed.last:
        expected = {r.path.name for r in releases_between(releases, day, day)}
        folder = done / day.isoformat()
        taken = (
            {p.name for p in folder.iterdir() if not p.name.endswith(".report.json")}
            if folder.is_dir()
            else set()
        )
        assert taken == expected, day
        day += dt.timedelta(days=1)
    # nothing released after the last day, nothing left behind
    assert not [p for p in (replayed.settings.home / "inbox").iterdir() if p.is_file()]


def test_the_history_and_every_day_ran_once(replayed: ReplayedHome) -> None:
    days = run_days(replayed)
    history = replayed.first - dt.timedelta(days=1)
    expected = [history] + [
        replayed.first + dt.timedelta(days=i)
        for i in range((replayed.last - replayed.first).days + 1)
    ]
    assert days == expected
    assert "history" in replayed.output and "10 day(s) replayed" in replayed.output


def test_a_replay_continues_after_the_last_finished_day(
    replayed: ReplayedHome, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(replayed.settings.home, home)
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")
    longer = default_period(read_window(replayed.city), replayed.first, replayed.last)
    again = Replay(settings, replayed.city, longer).run()
    assert (again.days_run, again.days_skipped, again.history_seconds) == (0, 10, 0.0)
    two_more = default_period(
        read_window(replayed.city), replayed.first, replayed.last + dt.timedelta(days=2)
    )
    result = Replay(settings, replayed.city, two_more).run()
    assert (result.days_run, result.days_skipped) == (2, 10)
    assert [f.day for f in result.figures] == [
        replayed.last + dt.timedelta(days=1),
        replayed.last + dt.timedelta(days=2),
    ]


def test_no_dead_person_is_certified_and_old_maoling_are_found(replayed: ReplayedHome) -> None:
    report = score(open_database(replayed.settings), replayed.city / "truth", replayed.last)
    assert report.ok, report.dead_certified
    assert report.dead_certified == []
    assert report.recipients > 700
    assert report.deaths.dead > 0 and report.deaths.detected > 0
    # every recorded death whose record reached the platform more than a week ago is known
    assert report.deaths.detected >= report.deaths.dead - report.deaths.undetected
    # 冒领: dead, never recorded, still paid — the ones dead for longer than a certification
    # period plus the weak-activity window before the last monthly scan must be cases
    truth = read_people(replayed.city / "truth")
    old = [
        p for p in truth.values()
        if p.maoling and p.death_date is not None and p.death_date < dt.date(2025, 8, 1)
    ]  # fmt: skip
    assert len(old) >= 2
    maoling = report.planted["maoling"]
    assert maoling.found >= len(old)


def test_the_people_side_acted(replayed: ReplayedHome) -> None:
    engine = open_database(replayed.settings)
    with engine.connect() as connection:
        channels: dict[str | None, int] = dict(
            connection.execute(
                text(
                    "SELECT channel, count(*) FROM decisions WHERE kind = 'certified' "
                    "GROUP BY channel"
                )
            ).all()
        )
        sent = connection.execute(
            text("SELECT count(*) FROM outbox WHERE status IN ('sent', 'delivered')")
        ).scalar()
    assert channels.get("auto", 0) > 0
    assert channels.get("self_service", 0) + channels.get("counter", 0) > 0  # the history's
    assert sent and sent > 0
    assert list((replayed.settings.home / "outbox").glob("sms-*.jsonl"))
