"""The lake's person-sorted store: parts merged by size tier, the big old part left alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa

from lifesign.ingest.lake import BatchWriter, publish
from lifesign.ingest.person_store import (
    EVIDENCE_STORE_DIR,
    PersonSortedStore,
    parts_to_merge,
    person_store,
    update_person_store,
)


def write_batch(lake: Path, batch_id: int, people: list[int]) -> None:
    """A committed, published batch with one record per person."""
    writer = BatchWriter(lake, batch_id, "bank")
    n = len(people)
    writer.add(
        pa.table(
            {
                "person_id": pa.array(people, pa.int64()),
                "pseudonym": [f"{i:032x}" for i in range(n)],
                "evidence_type": ["bank_counter"] * n,
                "event_time": pa.array([dt.datetime(2025, 3, 2, 10)] * n, pa.timestamp("s")),
                "source": ["bank"] * n,
                "record_id": [f"b{batch_id}-{i}" for i in range(n)],
                "record_key": pa.array(range(n), pa.int64()),
                "batch_id": pa.array([batch_id] * n, pa.int64()),
                "row": pa.array(range(n), pa.int64()),
            }
        )
    )
    writer.close()
    publish(lake, batch_id)


def test_the_merge_starts_at_the_oldest_part_no_bigger_than_the_newer_ones() -> None:
    assert parts_to_merge([1000, 1, 1, 1]) == 1  # the big first part stays
    assert parts_to_merge([1000, 8, 7, 1, 1, 1, 1, 1, 1, 1]) == 1  # 8 <= 14: tiers merge
    assert parts_to_merge([1000, 30, 7, 1, 1]) == 3  # 30 > 9, 7 > 2: the small ones only
    assert parts_to_merge([3, 2, 1]) == 0  # 3 <= 3: everything
    assert parts_to_merge([100, 50, 20, 5]) == 2  # each bigger than the newer: the two newest
    assert parts_to_merge([5]) == 0


def test_daily_parts_merge_without_rewriting_the_first_build(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_batch(lake, 1, list(range(1, 20_001)))  # the first build: a big part
    store = PersonSortedStore(lake, 3, EVIDENCE_STORE_DIR)
    duck = duckdb.connect()
    store.update(duck, {1: True}, None)
    first = store.manifest().parts[0]
    committed = {1: True}
    for batch in range(2, 9):  # a week of small daily batches
        write_batch(lake, batch, [batch, 100 + batch])
        committed[batch] = True
        store.update(duck, committed, None)
        assert len(store.manifest().parts) <= 3
        assert store.manifest().parts[0] == first  # never rewritten by the small merges
    files = [str(p) for p in store.files()]
    rows = (
        duckdb.connect()
        .execute(f"SELECT count(*), count(DISTINCT record_id) FROM read_parquet({files})")
        .fetchone()
    )
    assert rows == (20_000 + 14, 20_000 + 14)
    assert store.manifest().batches == set(range(1, 9))
    assert sorted(p.name for p in store.root.glob("*.parquet")) == sorted(store.manifest().parts)


def test_update_person_store_folds_what_is_published_and_then_nothing(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_batch(lake, 1, [1, 2])
    assert update_person_store(lake) == 1
    assert update_person_store(lake) == 0  # nothing new: nothing read
    write_batch(lake, 2, [3])
    assert update_person_store(lake, wait=False) == 1
    assert person_store(lake).manifest().batches == {1, 2}
