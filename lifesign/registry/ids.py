"""Resident ID numbers (公民身份号码) per GB 11643-1999.

18 characters: a 6-digit region code, an 8-digit birth date, a 3-digit sequence (odd for men,
even for women) and a check character computed from the first 17 digits. Old 15-digit numbers
have a 2-digit birth year (1900s) and no check character; they are converted to 18.

Department data is messy: full-width digits, spaces, a lowercase ``x``. Normalisation cleans
those; anything else is rejected with a reason code and a message that never repeats the full
number (personal data stays out of logs and errors).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_YEAR = 1880

# Full-width digits and letters, and every kind of space, map to their ASCII forms.
_FULL_WIDTH = {ord("０") + i: ord("0") + i for i in range(10)}
_FULL_WIDTH.update({ord("Ｘ"): ord("X"), ord("ｘ"): ord("X"), ord("x"): ord("X")})
_SPACES = {ord(c): None for c in " \t\r\n\u3000\u00a0\u2002\u2003\u2009\u200b\ufeff-"}
_TRANSLATION = {**_FULL_WIDTH, **_SPACES}


class IdRejection(StrEnum):
    """Why an ID number was rejected. The value is the stable reason code."""

    EMPTY = "empty"
    BAD_LENGTH = "bad_length"
    BAD_CHARACTER = "bad_character"
    BAD_REGION = "bad_region"
    BAD_BIRTH_DATE = "bad_birth_date"
    FUTURE_BIRTH_DATE = "future_birth_date"
    BAD_CHECK_CHARACTER = "bad_check_character"


_MESSAGES = {
    IdRejection.EMPTY: "the ID number is empty",
    IdRejection.BAD_LENGTH: "an ID number has 18 characters (or 15 for an old one), this has {n}",
    IdRejection.BAD_CHARACTER: "only digits are allowed, and X as the last of 18 characters",
    IdRejection.BAD_REGION: "the region code (first 6 digits) cannot start with 0",
    IdRejection.BAD_BIRTH_DATE: "characters 7-14 are not a real birth date",
    IdRejection.FUTURE_BIRTH_DATE: "the birth date is in the future",
    IdRejection.BAD_CHECK_CHARACTER: "the check character does not match the first 17 digits",
}


class InvalidIdNumber(ValueError):
    """An ID number that cannot be normalised; `reason` is the stable code."""

    def __init__(self, reason: IdRejection, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_character(first17: str) -> str:
    """The GB 11643-1999 check character of 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def _reject(reason: IdRejection, **fmt: object) -> InvalidIdNumber:
    return InvalidIdNumber(reason, _MESSAGES[reason].format(**fmt))


def _check_birth_date(digits8: str, today: dt.date) -> None:
    try:
        born = dt.date(int(digits8[:4]), int(digits8[4:6]), int(digits8[6:8]))
    except ValueError:
        raise _reject(IdRejection.BAD_BIRTH_DATE) from None
    if born.year < EARLIEST_BIRTH_YEAR:
        raise _reject(IdRejection.BAD_BIRTH_DATE)
    if born > today:
        raise _reject(IdRejection.FUTURE_BIRTH_DATE)


def normalize_id_number(raw: str | None, *, today: dt.date | None = None) -> str:
    """Return the canonical 18-character form of `raw`, or raise `InvalidIdNumber`.

    Accepts full-width digits, spaces and hyphens anywhere, a lowercase ``x``, and old
    15-digit numbers (converted by inserting ``19`` and appending the check character).
    """
    if raw is None:
        raise _reject(IdRejection.EMPTY)
    text = raw.translate(_TRANSLATION)
    if not text:
        raise _reject(IdRejection.EMPTY)
    today = today or dt.date.today()
    if len(text) == 15:
        if not text.isascii() or not text.isdigit():
            raise _reject(IdRejection.BAD_CHARACTER)
        if text[0] == "0":
            raise _reject(IdRejection.BAD_REGION)
        _check_birth_date("19" + text[6:12], today)
        first17 = text[:6] + "19" + text[6:]
        return first17 + check_character(first17)
    if len(text) != 18:
        raise _reject(IdRejection.BAD_LENGTH, n=len(text))
    first17, last = text[:17], text[17]
    if not first17.isascii() or not first17.isdigit() or not (last.isdigit() or last == "X"):
        raise _reject(IdRejection.BAD_CHARACTER)
    if text[0] == "0":
        raise _reject(IdRejection.BAD_REGION)
    _check_birth_date(text[6:14], today)
    if check_character(first17) != last:
        raise _reject(IdRejection.BAD_CHECK_CHARACTER)
    return text


def try_normalize_id_number(
    raw: str | None, *, today: dt.date | None = None
) -> tuple[str | None, InvalidIdNumber | None]:
    """Like `normalize_id_number` but returns the error instead of raising it."""
    try:
        return normalize_id_number(raw, today=today), None
    except InvalidIdNumber as error:
        return None, error


def birth_date_of(id_number: str) -> dt.date:
    """The birth date encoded in a normalised 18-character ID number."""
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def sex_of(id_number: str) -> str:
    """``M`` or ``F`` from the sequence digit of a normalised ID number."""
    return "M" if int(id_number[16]) % 2 else "F"


def mask_id_number(id_number: str | None) -> str:
    """A form safe for logs and screens: region prefix and last 4 only."""
    if not id_number:
        return ""
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_phone(phone: str | None) -> str:
    """A phone number with its middle digits hidden: 138****5678."""
    if not phone:
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
