"""`lifesign score` on a hand-made ledger (SQLite and PostgreSQL): each check, masked output."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, insert

from lifesign.certify.ledger import record_decision
from lifesign.cli import cli
from lifesign.integrity.cases import open_case
from lifesign.registry.ids import check_character, mask_id_number
from lifesign.replay.score import overpaid_part, score
from lifesign.store.models import Enrollment, Payment, Person

AS_OF = dt.date(2026, 4, 1)
TRUTH_HEADER = (
    "id_number,is_recipient,sex,birth_date,programs,death_date,death_recorded,maoling,"
    "imprisoned_on,emigrated_on\n"
)


def id_number(sequence: int) -> str:
    first17 = f"34160219450101{sequence:03d}"
    return first17 + str(check_character(first17))


ALIVE, DEAD, MAOLING, UNRECORDED = (id_number(n) for n in (11, 13, 15, 17))


@pytest.fixture
def truth(tmp_path: Path) -> Path:
    folder = tmp_path / "truth"
    folder.mkdir()
    (folder / "people.csv").write_text(
        TRUTH_HEADER
        + f"{ALIVE},true,M,1945-01-01,resident_pension,,,false,,\n"
        + f"{DEAD},true,M,1945-01-01,resident_pension,2026-01-10,true,false,,\n"
        + f"{MAOLING},true,M,1945-01-01,resident_pension,2025-03-01,false,true,,\n"
        + f"{UNRECORDED},true,M,1945-01-01,resident_pension,2026-02-01,false,false,,\n"
        + f"{id_number(19)},false,M,1945-01-01,,,,false,,\n",
        "utf-8",
    )
    (folder / "integrity_cases.csv").write_text(
        "case_type,id_number,programs,enrollment_ids,details\n"
        f"maoling,{MAOLING},resident_pension,E3,died 2025-03-01\n",
        "utf-8",
    )
    return folder


def fill(engine: Engine) -> dict[str, int]:
    """Four recipients, a ledger with one mistake of each kind the score looks for."""
    ids: dict[str, int] = {}
    with engine.begin() as connection:
        for n, number in enumerate((ALIVE, DEAD, MAOLING, UNRECORDED), start=1):
            connection.execute(
                insert(Person).values(
                    person_id=n, pseudonym=f"{n:032x}", id_number=number, sex="M",
                    birth_date=dt.date(1945, 1, 1),
                )
            )  # fmt: skip
            connection.execute(
                insert(Enrollment).values(
                    enrollment_id=n, external_ref=f"E{n}", person_id=n,
                    program="resident_pension", start_date=dt.date(2015, 1, 1),
                    monthly_amount=Decimal("150.00"), status="active",
                )
            )  # fmt: skip
            ids[number] = n
        for period, paid_on in (("2026-01", "2026-01-10"), ("2026-02", "2026-02-10")):
            connection.execute(
                insert(Payment).values(
                    enrollment_id=ids[DEAD], period=period, amount=Decimal("155.00"),
                    paid_on=dt.date.fromisoformat(paid_on),
                )
            )  # fmt: skip
        record_decision(
            connection, person_id=ids[DEAD], kind="deceased", effective_date=dt.date(2026, 1, 10),
            decided_on=dt.date(2026, 1, 25), rule="test", catalog_version="test",
        )  # fmt: skip
        record_decision(
            connection, person_id=ids[DEAD], kind="certified", channel="auto",
            effective_date=dt.date(2026, 2, 1), decided_on=dt.date(2026, 2, 2),
            valid_until=dt.date(2027, 2, 1), rule="test", catalog_version="test",
        )  # fmt: skip
        record_decision(
            connection, person_id=ids[ALIVE], kind="suspended", enrollment_id=ids[ALIVE],
            effective_date=dt.date(2026, 3, 1), decided_on=dt.date(2026, 3, 1),
            rule="test", catalog_version="test",
        )  # fmt: skip
        open_case(
            connection, kind="fraud", rule="weak_only_activity", person_id=ids[MAOLING],
            opened_on=dt.date(2026, 3, 1),
        )  # fmt: skip
        open_case(
            connection, kind="recovery", rule="overpayment_after_death", person_id=ids[DEAD],
            opened_on=dt.date(2026, 1, 25), amount=Decimal("110.00"),
        )  # fmt: skip
    return ids


def test_score_finds_each_kind_of_mistake(engine: Engine, truth: Path) -> None:
    fill(engine)
    report = score(engine, truth, AS_OF)
    assert not report.ok
    assert [row.id_masked for row in report.dead_certified] == [mask_id_number(DEAD)]
    assert report.living_suspended == 1 and report.living_suspended_resumed == 0
    assert report.deaths.dead == 3
    assert report.deaths.detected == 1 and report.deaths.lags_days == [15]
    assert report.deaths.undetected == 2 and report.deaths.undetected_unrecorded == 2
    assert report.planted["maoling"].found == 1
    assert report.recovery_cases == 1 and report.recovery_amount == Decimal("110.00")
    # 155 × 21/31 of January after the 10th, all of February
    assert report.overpaid_amount_recorded_truth == Decimal("105.00") + Decimal("155.00")
    assert report.overpaid_people_recorded_truth == 1


def test_score_before_the_mistake_is_clean(engine: Engine, truth: Path) -> None:
    fill(engine)
    report = score(engine, truth, dt.date(2026, 1, 31))
    assert report.ok and report.living_suspended == 0
    assert report.planted["maoling"].found == 0


def test_the_command_exits_non_zero_and_masks(
    engine: Engine, database_url: str, truth: Path, tmp_path: Path
) -> None:
    fill(engine)
    result = CliRunner().invoke(
        cli,
        ["--home", str(tmp_path / "home"), "score", "--truth", str(truth), "--as-of", "2026-04-01"],
        env={"LIFESIGN_DATABASE_URL": database_url, "COLUMNS": "200"},
    )
    assert result.exit_code == 1, result.output
    assert mask_id_number(DEAD) in result.output
    for number in (ALIVE, DEAD, MAOLING, UNRECORDED):
        assert number not in result.output


def test_overpaid_part_follows_the_date_of_death() -> None:
    death = dt.date(2026, 1, 10)
    assert overpaid_part(Decimal("310.00"), "2025-12", death) == 0
    assert overpaid_part(Decimal("310.00"), "2026-01", death) == Decimal("210.00")
    assert overpaid_part(Decimal("310.00"), "2026-02", death) == Decimal("310.00")
    assert overpaid_part(Decimal("310.00"), "2026-01", dt.date(2026, 1, 31)) == 0
