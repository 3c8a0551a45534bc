"""Calendar-month arithmetic for payment periods ('YYYY-MM') and certification periods."""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by `months` calendar months; the 31st becomes the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def first_of_next_month(day: dt.date) -> dt.date:
    return add_months(day.replace(day=1), 1)


def period_of(day: dt.date) -> str:
    """The payment period ('YYYY-MM') that `day` falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def period_start(period: str) -> dt.date:
    year, month = period.split("-")
    return dt.date(int(year), int(month), 1)


def periods_between(first: dt.date, stop: dt.date) -> list[str]:
    """The periods from the month of `first` up to, not including, the month of `stop`."""
    periods: list[str] = []
    month = first.replace(day=1)
    end = stop.replace(day=1)
    while month < end:
        periods.append(period_of(month))
        month = add_months(month, 1)
    return periods


def days_in_month(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def age_on(birth_date: dt.date | None, on: dt.date) -> int | None:
    if birth_date is None:
        return None
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
