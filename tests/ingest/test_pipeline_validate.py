"""Validation in bulk agrees with the registry's one-by-one rules; rules file; record keys."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lifesign.catalog import Catalog
from lifesign.ingest.lake import KeySet, record_keys
from lifesign.ingest.validate import (
    IngestRulesError,
    Reason,
    id_keys,
    load_rules,
    normalise_ids,
    validate_chunk,
)
from lifesign.registry.ids import IdRejection, check_character, try_normalize_id_number

AS_OF = dt.date(2026, 10, 31)


def _valid_id(rng: random.Random) -> str:
    born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(30000))
    first17 = f"3416{rng.randrange(10, 99)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + check_character(first17)


def _messy(rng: random.Random, canonical: str) -> str:
    kind = rng.randrange(9)
    if kind == 0 and canonical.endswith("X"):
        return canonical[:-1] + "x"
    if kind == 1:
        return canonical[:6] + canonical[8:17]  # old 15-digit form
    if kind == 2:
        return " " + canonical[:6] + "\u3000" + canonical[6:]
    if kind == 3:
        return canonical.translate({ord(str(d)): ord("０") + d for d in range(10)})
    if kind == 4:
        last = "0" if canonical[-1] != "0" else "1"
        return canonical[:-1] + last  # bad check character (or, rarely, still valid)
    if kind == 5:
        return canonical[:-2]
    if kind == 6:
        return canonical[:5] + "O" + canonical[6:]
    if kind == 7:
        return canonical[:10] + "13" + canonical[12:]  # month 13
    return ""


def test_bulk_id_check_agrees_with_the_registry_rules() -> None:
    rng = random.Random(7)
    values: list[str | None] = []
    for _ in range(3000):
        canonical = _valid_id(rng)
        values.append(canonical if rng.random() < 0.6 else _messy(rng, canonical))
    values += [None, "000000197001011234", "341602302001011234"]
    result = normalise_ids(pa.array(values, pa.string()), AS_OF)
    canonical = result.canonical.to_pylist()
    for index, raw in enumerate(values):
        expected, error = try_normalize_id_number(raw, today=AS_OF)
        assert canonical[index] == expected, raw
        assert bool(result.ok[index]) == (error is None)
        if error is not None:
            reason = (
                Reason.MISSING_FIELD if error.reason == IdRejection.EMPTY else str(error.reason)
            )
            assert result.reasons[index][0] == reason


def test_id_keys_are_unique_per_number_and_minus_one_for_nulls() -> None:
    rng = random.Random(3)
    ids = sorted({_valid_id(rng) for _ in range(2000)})
    keys = id_keys(pa.array([*ids, None], pa.string()))
    assert keys[-1] == -1
    assert len(set(keys[:-1].tolist())) == len(ids)
    x_id = next(i for i in ids if i.endswith("X"))
    digit = x_id[:-1] + "0"
    assert id_keys(pa.array([x_id]))[0] != id_keys(pa.array([digit]))[0]


def test_key_set_finds_what_was_added_across_merged_runs() -> None:
    rng = np.random.default_rng(1)
    keys = KeySet()
    added = [rng.integers(-(2**62), 2**62, size) for size in (5, 100, 3, 1000, 7, 7, 7)]
    for run in added:
        keys.add(run.astype(np.int64))
    everything = np.concatenate(added)
    assert keys.contains(everything).all()
    assert not keys.contains(rng.integers(-(2**62), 2**62, 500)).any()
    assert len(keys) == np.unique(everything).size


def test_record_keys_are_stable_and_distinct() -> None:
    keys = record_keys(pa.array(["YB1", "YB2", "YB1"]))
    assert keys[0] == keys[2] != keys[1]
    # A persisted key must never change between versions: pin one value.
    assert int(record_keys(pa.array(["YB3416000000000687"]))[0]) == int.from_bytes(
        __import__("hashlib").blake2b(b"YB3416000000000687", digest_size=8).digest(),
        "little",
        signed=True,
    )


def test_rules_file_is_dated_and_overridable(tmp_path: Path) -> None:
    rules = load_rules(AS_OF, "yibao_settle")
    assert rules.future_event_tolerance_hours == 0
    assert rules.latest_allowed(AS_OF) == dt.datetime(2026, 11, 1)
    path = tmp_path / "ingest.yaml"
    path.write_text(
        "rules:\n"
        "  - {effective_from: 2020-01-01, future_event_tolerance_hours: 0,"
        " max_event_age_years: 30}\n"
        "  - {effective_from: 2026-01-01, future_event_tolerance_hours: 6,"
        " max_event_age_years: 10}\n"
        "sources:\n  binyiguan_cremation: {max_event_age_years: 60}\n",
        "utf-8",
    )
    assert load_rules(dt.date(2025, 6, 1), None, path).max_event_age_years == 30
    assert load_rules(AS_OF, None, path).future_event_tolerance_hours == 6
    assert load_rules(AS_OF, "binyiguan_cremation", path).max_event_age_years == 60
    path.write_text("rules:\n  - {effective_from: 2020-01-01, max_event_age_years: -1}\n", "utf-8")
    with pytest.raises(IngestRulesError) as caught:
        load_rules(AS_OF, None, path)
    assert "max_event_age_years" in str(caught.value)


def test_validate_chunk_gives_one_reason_per_bad_record(catalog: Catalog) -> None:
    rng = random.Random(5)
    good = _valid_id(rng)
    rows = [
        # record_id, id_number, evidence_type (mapped), event_time, name, expected reason
        ("R1", good, "mi_inpatient", dt.datetime(2026, 5, 1), "张三", None),
        ("", good, "mi_inpatient", dt.datetime(2026, 5, 1), "张三", "missing_field"),
        (
            "R3",
            good[:-1] + ("0" if good[-1] != "0" else "1"),
            "mi_inpatient",
            dt.datetime(2026, 5, 1),
            "张三",
            "bad_check_character",
        ),
        ("R4", good, "mi_inpatient", None, "张三", "bad_event_time"),
        ("R5", good, "mi_inpatient", dt.datetime(2026, 11, 1), "张三", "future_event_time"),
        ("R6", good, "mi_inpatient", dt.datetime(1990, 1, 1), "张三", "event_time_too_old"),
        ("R7", good, None, dt.datetime(2026, 5, 1), "张三", "unknown_evidence_type"),
        ("R8", good, "rail_boarding", dt.datetime(2026, 5, 1), "张三", "evidence_type_not_allowed"),
        ("R9", good, "mi_inpatient", dt.datetime(2026, 5, 1), " ", "missing_field"),
        ("R10", good, "mi_inpatient", dt.datetime(2026, 10, 31, 23, 59, 59), "张三", None),
    ]
    table = pa.table(
        {
            "record_id": [r[0] for r in rows],
            "id_number": [r[1] for r in rows],
            "evidence_type": ["x"] * len(rows),
            "event_time": ["t" if i != 3 else "garbage" for i in range(len(rows))],
            "name": [r[4] for r in rows],
        }
    )
    checked = validate_chunk(
        table,
        evidence_types=pa.array([r[2] for r in rows], pa.string()),
        event_times=pa.array([r[3] for r in rows], pa.timestamp("s")),
        department="medical_insurance",
        catalog=catalog,
        rules=load_rules(AS_OF),
        as_of=AS_OF,
    )
    found = {p.index: p.reason for p in checked.problems}
    assert found == {i: r[5] for i, r in enumerate(rows) if r[5] is not None}
    assert checked.ok.tolist() == [r[5] is None for r in rows]
    id_problem = next(p for p in checked.problems if p.field == "id_number")
    assert id_problem.value is not None and good not in id_problem.value  # masked
