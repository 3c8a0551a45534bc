"""The integrity scan's weak store: the lake's weak records, folded in batch by batch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa

from lifesign.ingest.lake import BatchWriter, publish
from lifesign.integrity.weak_store import WeakStore

WEAK = ["bank_atm_withdrawal", "telecom_activity"]


def write_batch(lake: Path, batch_id: int, rows: list[tuple[int | None, str, str]]) -> None:
    """A committed, published batch of source `bank` with these (person, type, time) rows."""
    writer = BatchWriter(lake, batch_id, "bank")
    writer.add(
        pa.table(
            {
                "person_id": pa.array([r[0] for r in rows], pa.int64()),
                "pseudonym": [f"{i:032x}" for i in range(len(rows))],
                "evidence_type": [r[1] for r in rows],
                "event_time": pa.array(
                    [dt.datetime.fromisoformat(r[2]) for r in rows], pa.timestamp("s")
                ),
                "source": ["bank"] * len(rows),
                "record_id": [f"b{batch_id}-{i}" for i in range(len(rows))],
                "record_key": pa.array(range(len(rows)), pa.int64()),
                "batch_id": pa.array([batch_id] * len(rows), pa.int64()),
                "row": pa.array(range(len(rows)), pa.int64()),
            }
        )
    )
    writer.close()
    publish(lake, batch_id)


def stored(store: WeakStore) -> list[tuple[int, str]]:
    files = [str(p) for p in store.files()]
    if not files:
        return []
    rows = duckdb.connect().execute(
        f"SELECT person_id, record_id FROM read_parquet({files}) ORDER BY 2"
    )
    return [(int(p), str(r)) for p, r in rows.fetchall()]


def test_batches_are_folded_once_weak_records_of_recipients_only(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_batch(
        lake,
        1,
        [
            (7, "bank_atm_withdrawal", "2025-03-02 10:00:00"),
            (7, "bank_counter", "2025-03-03 10:00:00"),  # strong: not kept
            (None, "bank_atm_withdrawal", "2025-03-04 10:00:00"),  # not a recipient: not kept
            (3, "telecom_activity", "2025-04-01 08:00:00"),  # another month, another file
        ],
    )
    store = WeakStore(lake, max_parts=8)
    duck = duckdb.connect()
    first = store.update(duck, {1: True}, WEAK)
    assert (first.batches, first.lake_files, first.parts) == (1, 2, 1)
    assert stored(store) == [(7, "b1-0"), (3, "b1-3")]
    again = store.update(duck, {1: True}, WEAK)
    assert (again.batches, again.lake_files) == (0, 0)  # the watermark: nothing read again

    write_batch(lake, 3, [(5, "bank_atm_withdrawal", "2025-05-01 09:00:00")])
    # batch 2 should have files but none is published yet (a crash before the rename): it waits;
    # batch 4 put nothing in the lake: it is folded without a file.
    later = store.update(duck, {1: True, 2: True, 3: True, 4: False}, WEAK)
    assert (later.batches, later.lake_files) == (2, 1)
    assert store.manifest().batches == {1, 3, 4}
    write_batch(lake, 2, [(9, "telecom_activity", "2025-05-02 09:00:00")])
    assert store.update(duck, {1: True, 2: True, 3: True, 4: False}, WEAK).batches == 1
    assert [r for _, r in stored(store)] == ["b1-0", "b1-3", "b2-0", "b3-0"]


def test_a_staged_batch_waits_and_parts_are_merged(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    store = WeakStore(lake, max_parts=2)
    duck = duckdb.connect()
    for batch in (1, 2, 3):
        write_batch(lake, batch, [(batch, "bank_atm_withdrawal", f"2025-0{batch}-05 09:00:00")])
        store.update(duck, {b: True for b in range(1, batch + 1)}, WEAK)
    assert len(store.files()) == 1  # three parts > 2: merged into one
    assert [r for _, r in stored(store)] == ["b1-0", "b2-0", "b3-0"]
    assert sorted(p.name for p in (lake / "_integrity" / "weak").glob("*.parquet")) == [
        store.manifest().parts[0]
    ]
    staging = lake / "_staging" / "batch-4"
    staging.mkdir(parents=True)
    assert store.update(duck, {1: True, 2: True, 3: True, 4: True}, WEAK).batches == 0


def test_deleted_store_is_rebuilt_from_the_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_batch(lake, 1, [(1, "bank_atm_withdrawal", "2025-01-05 09:00:00")])
    store = WeakStore(lake, max_parts=8)
    store.update(duck := duckdb.connect(), {1: True}, WEAK)
    for path in (lake / "_integrity" / "weak").iterdir():
        path.unlink()
    assert store.update(duck, {1: True}, WEAK).batches == 1
    assert stored(store) == [(1, "b1-0")]
