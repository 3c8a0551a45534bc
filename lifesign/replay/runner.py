"""A synthetic city's days, fed one by one through the daily run.

    history   every file released before the first replayed day is ingested at once, a full
              pass is run as of the day before, living people whose certification the data did
              not renew certify by hand (people.py), then the daily run of that day — so
              certifications exist when the replayed year starts;
    each day  release the day's files into HOME/inbox → `lifesign run` for the day → the
              people's side (SMS answered, counters, visits) → the outbox delivered through
              the file gateway → on the first day of a month, the integrity scan.

Resumable: the `runs` table says which days are done; a replay started again continues after
the last finished day (and redoes that day's people's side, deliveries and scan, which are
idempotent, in case it stopped between the run and them).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings
from lifesign.errors import Location
from lifesign.ingest.pipeline import Ingestor
from lifesign.notify.gateways.base import Gateway
from lifesign.registry.importer import ImportReport
from lifesign.replay import platform
from lifesign.replay.people import (
    TIMEZONE,
    Behaviour,
    PeopleSide,
    load_behaviour,
    open_tasks,
    reminded_between,
    suspended_between,
)
from lifesign.replay.registry import registry_as_of
from lifesign.replay.release import (
    Release,
    ReplayInputError,
    plan_releases,
    release_into,
    releases_between,
)
from lifesign.replay.truth import CityWindow, read_people, read_window
from lifesign.store import open_database

INBOX = "inbox"
REGISTRY_COPY = "replay-registry"  # the registry as of the window start, imported
DELIVERY_HOUR = 9  # the outbox is emptied once a day, after the quiet hours (notify.yaml)
REPLAY_MONTHS = 12  # the replayed year; the months before it are history


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date

    @property
    def history_last(self) -> dt.date:
        return self.first - dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def default_period(
    window: CityWindow,
    first: dt.date | None = None,
    last: dt.date | None = None,
    days: int | None = None,
) -> Period:
    """The last 12 months of the city's window, unless told otherwise."""
    if first is None:
        end = window.end
        month = end.month - REPLAY_MONTHS + 1
        year = end.year + (month - 1) // 12
        first = dt.date(year, (month - 1) % 12 + 1, 1)
        if first <= window.start:
            first = window.start + dt.timedelta(days=1)
    if last is None:
        last = first + dt.timedelta(days=days - 1) if days is not None else window.end
    if first <= window.start or last < first:
        raise ReplayInputError(
            "bad replay period",
            f"{first} .. {last} must be inside the city's window {window.start} .. {window.end}, "
            "after its first day (the history needs at least one day)",
        )
    return Period(first, last)


@dataclass
class DayFigures:
    """What the progress display shows after each day."""

    day: dt.date
    files: int
    certified: int  # people certified (any channel) since the replay began
    suspended: int  # people with a suspended enrollment now
    deaths: int  # people decided deceased
    messages: int  # SMS sent so far
    seconds: float


@dataclass
class ReplayResult:
    period: Period
    days_run: int
    days_skipped: int
    seconds: float
    history_seconds: float
    figures: list[DayFigures] = field(default_factory=list)


class Replay:
    """One city replayed into one home."""

    def __init__(
        self,
        settings: Settings,
        city: Path,
        period: Period | None = None,
        *,
        behaviour: Behaviour | None = None,
        catalog: Catalog | None = None,
        on_day: Callable[[DayFigures], None] | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.city = city
        self.window = read_window(city)
        self.period = period or default_period(self.window)
        self.behaviour = behaviour or load_behaviour()
        self.catalog = catalog or load_catalog(settings.catalog_dir)
        self.on_day = on_day or (lambda _: None)
        self.on_stage = on_stage or (lambda _: None)
        self.engine: Engine = open_database(settings)
        self.releases: list[Release] = plan_releases(city / "feeds")
        self._releases_by_day: dict[dt.date, list[Release]] = {}
        for release in self.releases:
            self._releases_by_day.setdefault(release.day, []).append(release)
        self.people = PeopleSide(self.behaviour, read_people(city / "truth"), seed=self.window.seed)
        self.inbox = settings.home / INBOX
        self._ingestor: Ingestor | None = None
        self._gateway: Gateway | None = None

    # ------------------------------------------------------------------------ the whole run

    def last_finished_day(self) -> dt.date | None:
        with self.engine.connect() as connection:
            value = connection.execute(
                text("SELECT max(as_of) FROM runs WHERE status = 'finished'")
            ).scalar()
        if value is None:
            return None
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])

    def run(self) -> ReplayResult:
        started = time.perf_counter()
        self._require_registry()
        done = self.last_finished_day()
        history_seconds = 0.0
        if done is None or done < self.period.history_last:
            self.on_stage(f"history: files released before {self.period.first}, full pass")
            history_started = time.perf_counter()
            self.history()
            history_seconds = time.perf_counter() - history_started
            done = self.period.history_last
        elif done >= self.period.history_last:
            self.after_run(done)  # finish a day that may have stopped after its run
        result = ReplayResult(self.period, 0, 0, 0.0, history_seconds)
        day = self.period.first
        while day <= self.period.last:
            if day <= done:
                result.days_skipped += 1
            else:
                result.figures.append(self.day(day))
                result.days_run += 1
            day += dt.timedelta(days=1)
        result.seconds = time.perf_counter() - started
        return result

    def has_registry(self) -> bool:
        with self.engine.connect() as connection:
            return bool(connection.execute(text("SELECT count(*) FROM people")).scalar())

    def _require_registry(self) -> None:
        """Import the city's registry as of the window's first day if the home has none."""
        if not self.has_registry():
            self.on_stage(f"registry: importing {self.city / 'registry'} as of {self.window.start}")
            self.import_registry()

    def import_registry(self) -> ImportReport:
        """The city's registry as it stood on the window's first day (see registry.py)."""
        copy = registry_as_of(
            self.city / "registry", self.window.start, self.settings.home / REGISTRY_COPY
        )
        return platform.import_registry(self.settings, self.engine, copy)

    # ------------------------------------------------------------------------ history

    def history(self) -> None:
        """Everything before the replayed year, at once (see the module's docstring)."""
        last = self.period.history_last
        ingestor = self.ingestor(last)
        for release in releases_between(self.releases, None, last):
            source = ingestor.sources.get(release.source)
            if source is None:
                raise ReplayInputError(
                    "a feed of the city has no source definition",
                    f"source {release.source!r} is not defined",
                    Location(file=str(release.path)),
                )
            ingestor.ingest_file(source, release.path)
        platform.run_full_pass(self.settings, self.engine, self.catalog, last)
        with self.engine.connect() as connection:
            expired = _expired_by(connection, self.period.first)
        for action in self.people.history_certifications(expired, self.window.start, last):
            platform.certify(self.engine, self.catalog, action)
        platform.run_day(self.settings, self.engine, self.catalog, last)
        self.after_run(last)

    # ------------------------------------------------------------------------ one day

    def day(self, day: dt.date) -> DayFigures:
        started = time.perf_counter()
        files = release_into(self.inbox, self._releases_by_day.get(day, []))
        self.watch_inbox(day)
        platform.run_day(self.settings, self.engine, self.catalog, day)
        self.after_run(day)
        figures = self.figures(day, len(files), time.perf_counter() - started)
        self.on_day(figures)
        return figures

    def ingestor(self, as_of: dt.date) -> Ingestor:
        """One ingestor for the whole replay, like a long-running `lifesign ingest watch`: it
        keeps each source's record keys in memory instead of reading them from the lake again
        every day. Its as-of date follows the replayed day."""
        if self._ingestor is None:
            from lifesign.ingest.sources import load_sources

            sources = load_sources(None, self.catalog)
            self._ingestor = Ingestor(
                self.settings, self.catalog, sources, as_of, engine=self.engine
            )
            self._ingestor.recover()
        self._ingestor.as_of = as_of
        return self._ingestor

    def watch_inbox(self, day: dt.date) -> None:
        """Take the day's files from HOME/inbox (the watcher; the daily run then finds the
        inbox empty). Files are complete when they appear: no stability wait."""
        from lifesign.ingest.sources import match_source
        from lifesign.ingest.watch import DropFolder

        ingestor = self.ingestor(day)
        folder = DropFolder(
            directory=self.inbox,
            match=lambda path: match_source(ingestor.sources, path),
            ingest=ingestor.ingest_file,
            today=lambda: day,
        )
        folder.run(once=True, interval=0)

    def after_run(self, day: dt.date) -> None:
        """The people's side, the deliveries and (on the first of a month) the scan."""
        lookback = day - dt.timedelta(days=self.behaviour.lookback_days)
        with self.engine.connect() as connection:
            answers = self.people.reminder_responses(
                connection, day, reminded_between(connection, lookback, day)
            )
            answers += self.people.suspension_responses(
                connection, day, suspended_between(connection, lookback, day)
            )
            visits = self.people.visits(day, open_tasks(connection, day))
        for action in answers:
            platform.certify(self.engine, self.catalog, action)
        for visit in visits:
            platform.record_visit(self.engine, self.catalog, visit)
        moment = dt.datetime.combine(day, dt.time(DELIVERY_HOUR), tzinfo=TIMEZONE)
        if self._gateway is None:
            self._gateway = platform.file_gateway(self.settings)
        platform.deliver_messages(self.engine, self._gateway, moment)
        if day.day == 1 or day == self.period.history_last:
            platform.integrity_scan(self.settings, self.engine, self.catalog, day)

    def figures(self, day: dt.date, files: int, seconds: float) -> DayFigures:
        with self.engine.connect() as connection:
            certified = connection.execute(
                text(
                    "SELECT count(DISTINCT person_id) FROM decisions "
                    "WHERE kind = 'certified' AND decided_on >= :first"
                ),
                {"first": self.period.first},
            ).scalar()
            suspended = connection.execute(
                text("SELECT count(DISTINCT person_id) FROM enrollments WHERE status = 'suspended'")
            ).scalar()
            deaths = connection.execute(
                text("SELECT count(DISTINCT person_id) FROM decisions WHERE kind = 'deceased'")
            ).scalar()
            messages = connection.execute(
                text("SELECT count(*) FROM outbox WHERE status IN ('sent', 'delivered')")
            ).scalar()
        return DayFigures(
            day, files, int(certified or 0), int(suspended or 0), int(deaths or 0),
            int(messages or 0), seconds,
        )  # fmt: skip


def _expired_by(connection: Connection, day: dt.date) -> list[tuple[int, str, dt.date]]:
    """(person_id, id_number, valid_until) of living people whose certification ends before
    `day` — the ones the data did not renew in the history."""
    rows = connection.execute(
        text(
            "SELECT s.person_id, p.id_number, s.valid_until FROM person_state s "
            "JOIN people p ON p.person_id = s.person_id "
            "WHERE s.status = 'alive' AND s.valid_until IS NOT NULL AND s.valid_until < :day"
        ),
        {"day": day},
    )
    found: list[tuple[int, str, dt.date]] = []
    for row in rows:
        until = row.valid_until
        if not isinstance(until, dt.date):
            until = dt.date.fromisoformat(str(until)[:10])
        if row.id_number:
            found.append((int(row.person_id), str(row.id_number), until))
    return found
