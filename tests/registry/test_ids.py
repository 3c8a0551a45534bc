"""Resident ID number rules (GB 11643-1999): examples and properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifesign.registry.ids import (
    IdRejection,
    InvalidIdNumber,
    birth_date_of,
    check_character,
    mask_id_number,
    mask_phone,
    normalize_id_number,
    sex_of,
    try_normalize_id_number,
)

TODAY = dt.date(2026, 11, 29)

# Synthetic numbers: region 341602 (Qiaocheng), made valid by their own check character.
VALID = "34160219470315002" + check_character("34160219470315002")


def make_id(region: str, born: dt.date, sequence: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


regions = st.sampled_from(["341602", "341621", "341622", "341623", "110105", "440301"])
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31))
sequences = st.integers(min_value=0, max_value=999)


def test_the_published_example_check_character() -> None:
    # The worked example of GB 11643-1999, appendix: 11010519491231002X.
    assert check_character("11010519491231002") == "X"
    assert normalize_id_number("11010519491231002X", today=TODAY) == "11010519491231002X"


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",  # lowercase x
        " 110105 19491231 002X ",  # spaces
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and X
        "110105\u300019491231002x",  # ideographic space
        "110105491231002",  # 15-digit old number
    ],
)
def test_messy_forms_normalise_to_the_canonical_number(raw: str) -> None:
    assert normalize_id_number(raw, today=TODAY) == "11010519491231002X"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, IdRejection.EMPTY),
        ("   ", IdRejection.EMPTY),
        ("3416021947", IdRejection.BAD_LENGTH),
        ("3416021947031500211", IdRejection.BAD_LENGTH),
        ("34160219470315A021", IdRejection.BAD_CHARACTER),
        ("34160219470315002Y", IdRejection.BAD_CHARACTER),
        ("34160247031500A", IdRejection.BAD_CHARACTER),
        ("01160219470315002" + check_character("01160219470315002"), IdRejection.BAD_REGION),
        ("34160219470231002" + check_character("34160219470231002"), IdRejection.BAD_BIRTH_DATE),
        ("34160218700101002" + check_character("34160218700101002"), IdRejection.BAD_BIRTH_DATE),
        ("341602470231002", IdRejection.BAD_BIRTH_DATE),
        ("34160220300101002" + check_character("34160220300101002"), IdRejection.FUTURE_BIRTH_DATE),
    ],
)
def test_every_rejection_has_its_reason(raw: str | None, reason: IdRejection) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        normalize_id_number(raw, today=TODAY)
    assert caught.value.reason is reason
    assert caught.value.message


def test_a_wrong_check_character_is_rejected() -> None:
    wrong = VALID[:17] + ("0" if VALID[17] != "0" else "1")
    value, error = try_normalize_id_number(wrong, today=TODAY)
    assert value is None
    assert error is not None and error.reason is IdRejection.BAD_CHECK_CHARACTER


def test_rejection_messages_never_repeat_the_number() -> None:
    wrong = VALID[:17] + ("0" if VALID[17] != "0" else "1")
    for raw in (wrong, VALID[:16], VALID[:10] + "A" + VALID[11:]):
        _, error = try_normalize_id_number(raw, today=TODAY)
        assert error is not None
        assert raw not in str(error) and raw[:14] not in str(error)


@given(regions, birth_dates, sequences)
def test_valid_numbers_are_fixed_points(region: str, born: dt.date, sequence: int) -> None:
    number = make_id(region, born, sequence)
    assert normalize_id_number(number, today=TODAY) == number
    assert normalize_id_number(number.lower(), today=TODAY) == number
    assert birth_date_of(number) == born
    assert sex_of(number) == ("M" if sequence % 2 else "F")


@given(regions, birth_dates, sequences)
def test_fifteen_digit_numbers_convert_to_their_eighteen_digit_form(
    region: str, born: dt.date, sequence: int
) -> None:
    old = f"{region}{born:%y%m%d}{sequence:03d}"
    assert normalize_id_number(old, today=TODAY) == make_id(region, born, sequence)


@given(regions, birth_dates, sequences, st.integers(min_value=0, max_value=16), st.data())
def test_changing_any_one_digit_is_detected(
    region: str, born: dt.date, sequence: int, position: int, data: st.DataObject
) -> None:
    number = make_id(region, born, sequence)
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    altered = number[:position] + digit + number[position + 1 :]
    value, error = try_normalize_id_number(altered, today=TODAY)
    # A one-digit change either breaks the date/region or the check character: never valid.
    assert value is None
    assert error is not None


@given(regions, birth_dates, sequences, st.integers(min_value=0, max_value=15))
def test_swapping_two_adjacent_different_digits_is_detected(
    region: str, born: dt.date, sequence: int, position: int
) -> None:
    number = make_id(region, born, sequence)
    a, b = number[position], number[position + 1]
    if a == b:
        return
    swapped = number[:position] + b + a + number[position + 2 :]
    assert try_normalize_id_number(swapped, today=TODAY)[0] is None


@given(st.text(max_size=30))
def test_arbitrary_text_never_crashes(raw: str) -> None:
    value, error = try_normalize_id_number(raw, today=TODAY)
    assert (value is None) != (error is None)
    if value is not None:
        assert len(value) == 18 and check_character(value[:17]) == value[17]


def test_masks_hide_the_middle() -> None:
    assert mask_id_number(VALID) == VALID[:4] + "*" * 10 + VALID[-4:]
    assert mask_phone("13855661234") == "138****1234"
    assert mask_id_number(None) == "" and mask_phone("") == ""
