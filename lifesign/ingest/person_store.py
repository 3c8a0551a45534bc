"""The lake's records kept in a few Parquet files sorted by person, folded in batch by batch.

The lake holds one file per batch, month and source: thousands of files after a year of daily
batches, and a filter on `person_id` still opens every one. A person-sorted store holds the
same records in a handful of files ("parts") sorted by person, so that Parquet's row-group
statistics take a reader straight to one person's rows. Two stores use this machinery:

    LAKE/_person/evidence/     every record with a person (the person page's timeline; kept up
                               to date by the daily run: `update_person_store`)
    LAKE/_integrity/weak/      the weak records of recipients (lifesign.integrity.weak_store)

Each holds `part-N.parquet` files and a `manifest.json` ({"parts": [...], "batches": [...]}):
what is in it. An update folds in the published batches not yet in the manifest (its
watermark: a set, because batches commit out of order), reading only their files, into one new
part. A part is written first and the manifest replaced after (atomically), so a crash leaves
at worst an unlisted part, which the next update overwrites. Derived data: deleting a store
only makes the next update rebuild it from the lake.

Parts are merged by size tiers, not all at once: past `max_parts`, the newest parts are merged
from the oldest one that is no bigger than all the parts newer than it together. A daily part
is then rewritten a few times (log of the store's size in days), and the big first part — the
whole lake at the store's first build — only when the later parts add up to its size, about
once a year, instead of at every merge (at Bozhou scale a full rewrite sorts 35 M records:
two minutes, which a daily run cannot afford every ~9 days).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import yaml

from lifesign.errors import LifesignError, Location
from lifesign.ingest.lake import LakeListing, batch_files, parquet_list, staged_batches

MANIFEST = "manifest.json"
COLUMNS = "person_id, event_time, evidence_type, source, record_id, batch_id"
EVIDENCE_STORE_DIR = Path("_person") / "evidence"
PARAMETERS_FILE = Path(__file__).parent / "data" / "person_store.yaml"


class PersonStoreError(LifesignError):
    """The person store's parameters are missing or wrong."""


@dataclass
class Manifest:
    parts: list[str] = field(default_factory=list)
    batches: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Update:
    batches: int  # batches folded in by this update
    lake_files: int  # lake files read to do it
    parts: int  # parts of the store after it


def _part_number(name: str) -> int:
    return int(name.removeprefix("part-").removesuffix(".parquet"))


def parts_to_merge(sizes: list[int]) -> int:
    """Where the merge of a store's parts (sizes in bytes, oldest first) starts: the oldest part
    no bigger than all the parts newer than it together (else the two newest), so that parts of
    similar size are merged and a big old part is left alone until the new ones add up to it."""
    for start in range(len(sizes) - 1):
        if sizes[start] <= sum(sizes[start + 1 :]):
            return start
    return max(0, len(sizes) - 2)


class PersonSortedStore:
    """Lake records kept in a few files sorted by person, folded in batch by batch."""

    def __init__(self, lake_dir: Path, max_parts: int, store_dir: Path) -> None:
        self.lake_dir = lake_dir
        self.root = lake_dir / store_dir
        self.max_parts = max_parts

    def manifest(self) -> Manifest:
        path = self.root / MANIFEST
        if not path.exists():
            return Manifest()
        document = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(list(document["parts"]), {int(b) for b in document["batches"]})

    def files(self) -> list[Path]:
        return [self.root / name for name in self.manifest().parts]

    def _write_manifest(self, manifest: Manifest) -> None:
        temporary = self.root / f"{MANIFEST}.tmp"
        temporary.write_text(
            json.dumps({"parts": manifest.parts, "batches": sorted(manifest.batches)}),
            encoding="utf-8",
        )
        os.replace(temporary, self.root / MANIFEST)

    def update(
        self,
        duck: duckdb.DuckDBPyConnection,
        committed: Mapping[int, bool],
        kept_types: Collection[str] | None,
    ) -> Update:
        """Fold in the committed batches not yet in the store. `committed`: batch id → whether
        it put records in the lake (a batch that should have files but whose files are not
        published yet — a crash between its commit and the rename — waits for a later update).
        `kept_types`: the evidence types kept (None: every record with a person)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "update.lock").open("ab") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            return self._fold(duck, committed, kept_types)

    def try_update(
        self,
        duck: duckdb.DuckDBPyConnection,
        committed: Mapping[int, bool],
        kept_types: Collection[str] | None,
    ) -> Update | None:
        """`update`, or None at once when another process or thread is updating the store."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "update.lock").open("ab") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            return self._fold(duck, committed, kept_types)

    def _fold(
        self,
        duck: duckdb.DuckDBPyConnection,
        committed: Mapping[int, bool],
        kept_types: Collection[str] | None,
    ) -> Update:
        """The update itself (the caller holds the store's lock)."""
        manifest = self.manifest()
        new = sorted(set(committed) - manifest.batches)
        if new:  # a batch still staged is being published (or was cut short by a crash): waits
            staged = set(staged_batches(self.lake_dir))
            new = [batch for batch in new if batch not in staged]
        files = batch_files(self.lake_dir, new) if new else []
        published = {int(p.stem.removeprefix("batch-")) for p in files}
        folded = [b for b in new if b in published or not committed[b]]
        if files:
            number = 1 + max((_part_number(n) for n in manifest.parts), default=0)
            name = f"part-{number:06d}.parquet"
            kept = ""
            if kept_types is not None:
                quoted = ["'" + t.replace("'", "''") + "'" for t in sorted(kept_types)]
                kept = f"AND evidence_type IN ({', '.join(quoted) or 'NULL'})"
            self._copy(
                duck,
                f"SELECT {COLUMNS} FROM read_parquet({parquet_list(files)}, "
                f"hive_partitioning = false) WHERE person_id IS NOT NULL {kept}",
                self.root / name,
            )
            manifest.parts.append(name)
        manifest.batches.update(folded)
        if len(manifest.parts) > self.max_parts:
            manifest = self._merge(duck, manifest)
        if folded or files:
            self._write_manifest(manifest)
        return Update(len(folded), len(files), len(manifest.parts))

    def _copy(self, duck: duckdb.DuckDBPyConnection, select: str, target: Path) -> None:
        quoted = str(target).replace("'", "''")
        duck.execute(
            f"COPY ({select} ORDER BY person_id, event_time, source, record_id) TO '{quoted}' "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)"
        )

    def _merge(self, duck: duckdb.DuckDBPyConnection, manifest: Manifest) -> Manifest:
        """The newest parts merged into one (see `parts_to_merge`); the old ones removed after
        the manifest that no longer lists them."""
        sizes = [(self.root / name).stat().st_size for name in manifest.parts]
        start = parts_to_merge(sizes)
        kept, merged_away = manifest.parts[:start], manifest.parts[start:]
        number = 1 + max(_part_number(n) for n in manifest.parts)
        name = f"part-{number:06d}.parquet"
        paths = [self.root / n for n in merged_away]
        self._copy(
            duck, f"SELECT {COLUMNS} FROM read_parquet({parquet_list(paths)})", self.root / name
        )
        merged = Manifest([*kept, name], set(manifest.batches))
        self._write_manifest(merged)
        for path in paths:
            path.unlink(missing_ok=True)
        return merged


# ----------------------------------------------------------------------------- the evidence store


@dataclass(frozen=True)
class StoreParameters:
    effective_from: dt.date
    max_parts: int


@cache
def load_store_parameters(path: Path = PARAMETERS_FILE) -> StoreParameters:
    """The evidence store's parameters (data/person_store.yaml), checked."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PersonStoreError(
            "the person store's parameters cannot be read", str(error), Location(str(path))
        ) from None
    data = data if isinstance(data, dict) else {}
    effective_from = data.get("effective_from")
    if not isinstance(effective_from, dt.date):
        raise PersonStoreError(
            "the person store's parameters need an effective_from date",
            "every parameter is dated",
            Location(file=str(path), key="effective_from"),
        )
    parts = data.get("max_parts")
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise PersonStoreError(
            "max_parts must be a whole number of at least 1",
            f"got {parts!r}",
            Location(file=str(path), key="max_parts"),
        )
    return StoreParameters(effective_from, parts)


_databases: dict[Path, duckdb.DuckDBPyConnection] = {}
_lock = threading.Lock()


def store_database(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """One DuckDB database per lake folder for the process, with its object cache on (a part's
    footer is read once, not at every read); take a `.cursor()` per use (one per thread)."""
    with _lock:
        found = _databases.get(lake_dir)
        if found is None:
            found = duckdb.connect()
            found.execute("SET enable_object_cache = true")
            found.execute("SET enable_progress_bar = false")
            _databases[lake_dir] = found
        return found


def person_store(lake_dir: Path) -> PersonSortedStore:
    """The store of every lake record with a person (`LAKE/_person/evidence`)."""
    return PersonSortedStore(lake_dir, load_store_parameters().max_parts, EVIDENCE_STORE_DIR)


def batch_of(path: Path) -> int:
    """The batch id of a lake file (`.../batch-N.parquet`)."""
    return int(path.stem.removeprefix("batch-"))


def update_person_store(lake_dir: Path, *, wait: bool = True) -> int | None:
    """Fold the lake's published batches not yet in the evidence store into it; the number of
    batches folded in (None: another process or thread is updating it and `wait` is off)."""
    store = person_store(lake_dir)
    # A published batch file is a committed batch's (the lake publishes after the commit); a
    # batch still staged is being published and waits (the store checks that too).
    published = {batch_of(p): True for p in LakeListing.of(lake_dir).files()}
    manifest = store.manifest()
    if not set(published) - manifest.batches:
        return 0  # nothing new: no lock, no DuckDB
    cursor = store_database(lake_dir).cursor()
    try:
        if wait:
            return store.update(cursor, published, None).batches
        update = store.try_update(cursor, published, None)
        return None if update is None else update.batches
    finally:
        cursor.close()


__all__ = [
    "COLUMNS",
    "EVIDENCE_STORE_DIR",
    "MANIFEST",
    "Manifest",
    "PersonSortedStore",
    "Update",
    "batch_of",
    "parts_to_merge",
    "person_store",
    "store_database",
    "update_person_store",
]
