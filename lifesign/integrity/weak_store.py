"""The lake's weak records, kept by the integrity scan in a few files sorted by person.

The fraud signals count a flagged person's weak records (card, phone, utilities) since a date.
Finding a few persons' records in a daily-fed lake means opening every one of its thousands
of small files; this store holds the same records — the weak ones of recipients, with the
columns a case shows — in a handful of files sorted by person, so Parquet's row-group
statistics take a reader straight to them. It is derived data: deleting it only makes the
next scan rebuild it from the lake.

    LAKE/_integrity/weak/part-N.parquet    weak records of some batches, sorted by person
    LAKE/_integrity/weak/manifest.json     {"parts": [...], "batches": [...]} — what is in it

Each scan folds in the committed batches not yet in the manifest (its watermark: a set,
because batches commit out of order): it reads only their files. A part is written first and
the manifest replaced after (atomically), so a crash leaves at worst an unlisted part, which
the next update overwrites. Parts are merged into one when there are more than
`data/scan.yaml`'s `weak_store_max_parts`. Records are filtered by event time when read, as
the whole lake would be: the store holds every committed weak record, whatever its date.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from lifesign.ingest.lake import batch_files, parquet_list, staged_batches

STORE_DIR = Path("_integrity") / "weak"
MANIFEST = "manifest.json"
COLUMNS = "person_id, event_time, evidence_type, source, record_id, batch_id"


@dataclass
class Manifest:
    parts: list[str] = field(default_factory=list)
    batches: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Update:
    batches: int  # batches folded in by this update
    lake_files: int  # lake files read to do it
    parts: int  # parts of the store after it


class PersonSortedStore:
    """Lake records kept in a few files sorted by person, folded in batch by batch.

    The weak store (below) keeps the weak records of the integrity scan; the web's person page
    keeps every record with a person (lifesign.web.queries.lake) in a store of its own.
    """

    def __init__(self, lake_dir: Path, max_parts: int, store_dir: Path = STORE_DIR) -> None:
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
        weak_types: Collection[str] | None,
    ) -> Update:
        """Fold in the committed batches not yet in the store. `committed`: batch id → whether
        it put records in the lake (a batch that should have files but whose files are not
        published yet — a crash between its commit and the rename — waits for a later scan).
        `weak_types`: the evidence types kept (None: every record with a person)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "update.lock").open("ab") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            return self._fold(duck, committed, weak_types)

    def try_update(
        self,
        duck: duckdb.DuckDBPyConnection,
        committed: Mapping[int, bool],
        weak_types: Collection[str] | None,
    ) -> Update | None:
        """`update`, or None at once when another process or thread is updating the store."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "update.lock").open("ab") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            return self._fold(duck, committed, weak_types)

    def _fold(
        self,
        duck: duckdb.DuckDBPyConnection,
        committed: Mapping[int, bool],
        weak_types: Collection[str] | None,
    ) -> Update:
        """The update itself (the caller holds the store's lock)."""
        manifest = self.manifest()
        # A batch still staged is being published (or was cut short by a crash): it waits.
        staged = set(staged_batches(self.lake_dir))
        new = sorted(set(committed) - manifest.batches - staged)
        files = batch_files(self.lake_dir, new) if new else []
        published = {int(p.stem.removeprefix("batch-")) for p in files}
        folded = [b for b in new if b in published or not committed[b]]
        if files:
            number = 1 + max((int(n[5:-8]) for n in manifest.parts), default=0)
            name = f"part-{number:06d}.parquet"
            kept = ""
            if weak_types is not None:
                quoted = ["'" + t.replace("'", "''") + "'" for t in sorted(weak_types)]
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
        """Every part merged into one (then the old parts removed, after the manifest)."""
        old = list(manifest.parts)
        number = 1 + max(int(n[5:-8]) for n in old)
        name = f"part-{number:06d}.parquet"
        paths = [self.root / n for n in old]
        select = f"SELECT {COLUMNS} FROM read_parquet({parquet_list(paths)})"
        self._copy(duck, select, self.root / name)
        merged = Manifest([name], set(manifest.batches))
        self._write_manifest(merged)
        for path in paths:
            path.unlink(missing_ok=True)
        return merged


class WeakStore(PersonSortedStore):
    """The integrity scan's store of weak records (`LAKE/_integrity/weak`)."""
