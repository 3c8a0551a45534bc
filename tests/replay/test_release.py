"""When each feed file of a city reaches the drop folder."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from lifesign.errors import LifesignError
from lifesign.replay.release import (
    ReleaseDelays,
    load_delays,
    plan_releases,
    release_into,
    releases_between,
)

NO_DELAY = ReleaseDelays(0, {})


def manifest_rows(city: Path) -> list[dict[str, str]]:
    with (city / "feeds" / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_file_is_released_once_after_the_period_it_covers(replay_city: Path) -> None:
    releases = plan_releases(replay_city / "feeds", NO_DELAY)
    rows = manifest_rows(replay_city)
    assert len(releases) == len(rows)
    assert {r.path.relative_to(replay_city / "feeds").as_posix() for r in releases} == {
        row["file"] for row in rows
    }
    by_file = {r.path.name: r for r in releases}
    # a daily file the next day, a monthly file on the first of the next month
    assert by_file["yibao_settle_20250314.csv"].day == dt.date(2025, 3, 15)
    assert by_file["202502_人口业务.csv"].day == dt.date(2025, 3, 1)
    assert by_file["202412_户籍注销.xlsx"].day == dt.date(2025, 1, 1)
    for release in releases:  # never before the last event the file holds
        row = next(r for r in rows if release.path.name == Path(r["file"]).name)
        if row["last_event"]:
            assert release.day > dt.date.fromisoformat(row["last_event"])
    assert [r.day for r in releases] == sorted(r.day for r in releases)


def test_the_packaged_delays_make_death_records_late(replay_city: Path) -> None:
    delays = load_delays()
    releases = {r.path.name: r for r in plan_releases(replay_city / "feeds", delays)}
    cancellation = releases["202412_户籍注销.xlsx"]
    assert cancellation.day == dt.date(2025, 1, 1) + dt.timedelta(delays.of("gongan_cancellation"))
    assert delays.of("gongan_cancellation") > delays.of("yibao_settle")


def test_a_bad_delay_is_refused_with_where(tmp_path: Path) -> None:
    path = tmp_path / "release.yaml"
    path.write_text("default_delay_days: 0\ndelay_days:\n  yibao_settle: -2\n", "utf-8")
    with pytest.raises(LifesignError) as error:
        load_delays(path)
    assert "yibao_settle" in str(error.value) and str(path) in str(error.value)


def test_a_folder_without_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LifesignError, match="no feed manifest"):
        plan_releases(tmp_path)


def test_release_into_puts_complete_files_only_once(replay_city: Path, tmp_path: Path) -> None:
    releases = plan_releases(replay_city / "feeds", NO_DELAY)
    day = dt.date(2025, 3, 1)
    todays = releases_between(releases, day, day)
    assert len(todays) >= 15  # the monthly files of February, and a daily one or two
    inbox = tmp_path / "inbox"
    placed = release_into(inbox, todays)
    assert sorted(p.name for p in inbox.iterdir()) == sorted(r.path.name for r in todays)
    assert [p.name for p in placed] == [r.path.name for r in todays]
    assert not list(inbox.glob("*.part"))
    for release in todays:
        assert (inbox / release.path.name).read_bytes() == release.path.read_bytes()
    assert release_into(inbox, todays) == []  # already there: nothing placed again
