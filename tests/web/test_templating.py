"""The template filters: recorded moments on the city's clock, record times as given."""

from __future__ import annotations

import datetime as dt

from lifesign.web.templating import environment


def test_stamp_shows_a_recorded_moment_on_the_city_clock() -> None:
    stamp = environment().filters["stamp"]
    # SQLite hands a stored UTC moment back without a zone; PostgreSQL with one
    assert stamp(dt.datetime(2026, 3, 5, 1, 30)) == "2026-03-05 09:30"
    assert stamp(dt.datetime(2026, 3, 5, 1, 30, tzinfo=dt.UTC)) == "2026-03-05 09:30"
    assert stamp(None) == "—"


def test_datetime_keeps_a_record_time_as_given() -> None:
    # an evidence event time is already local (Beijing) time: shifting it would be wrong
    assert environment().filters["datetime"](dt.datetime(2026, 3, 5, 1, 30)) == "2026-03-05 01:30"
