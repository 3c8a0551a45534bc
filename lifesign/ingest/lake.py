"""The evidence lake: Parquet files of minimal evidence records, and how to read them.

Layout, under `settings.lake_dir`:

    evidence/month=YYYY-MM/source=CODE/batch-N.parquet   committed batches (one file per month)
    _staging/batch-N/YYYY-MM.CODE.parquet                a batch being written (flat: cheap to
                                                         create and remove)
    _staging/batch-N.lock                                held (flock) while batch N is written

A batch's files are written under `_staging/batch-N/`, the batch is committed in the state
database, and only then are the files renamed into `evidence/` (see `pipeline.py`). Readers
list `evidence/` only, so they never see half a batch. Listing a daily-fed lake (thousands of
files) on every read cost a tenth of a second a call, several times a day: `LakeListing` keeps
the listing in memory and re-reads only the folders whose modification time changed.

Within a file, records are sorted by person (then event time): Parquet's row-group statistics
on `person_id` let a reader of one person's timeline skip every other row group.

Each file holds only `LAKE_SCHEMA`: no ID number, name, phone, place or anything clinical.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lifesign.config import Settings

# A staged file is fsynced before its batch commits, so a committed batch survives a power
# loss. LIFESIGN_LAKE_FSYNC=0 skips that (tests, throwaway benchmarks: a killed process does
# not lose the page cache, only a power loss does).
FSYNC_ENV = "LIFESIGN_LAKE_FSYNC"
EVIDENCE_DIR = "evidence"
STAGING_DIR = "_staging"

LAKE_SCHEMA = pa.schema(
    [
        pa.field("person_id", pa.int64()),  # null for a non-recipient kept by its source
        pa.field("pseudonym", pa.string(), nullable=False),  # 32 hex, HMAC of the ID number
        pa.field("evidence_type", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("s"), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("record_key", pa.int64(), nullable=False),  # 64-bit hash of record_id
        pa.field("batch_id", pa.int64(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),  # line / sheet row in the batch's file
    ]
)
LAKE_COLUMNS = tuple(LAKE_SCHEMA.names)

# Rows buffered per month before a sorted run is written as row groups: bounds the memory of
# one batch whatever the size of its file.
RUN_ROWS = 1_000_000
ROW_GROUP_ROWS = 128 * 1024

I64 = npt.NDArray[np.int64]


def evidence_dir(lake_dir: Path) -> Path:
    return lake_dir / EVIDENCE_DIR


def staging_dir(lake_dir: Path, batch_id: int) -> Path:
    return lake_dir / STAGING_DIR / f"batch-{batch_id}"


def partition_path(month: str, source: str, batch_id: int) -> Path:
    """The path of a batch's file of one month, relative to the lake (and to its staging)."""
    return Path(EVIDENCE_DIR) / f"month={month}" / f"source={source}" / f"batch-{batch_id}.parquet"


def staged_name(month: str, source: str) -> str:
    return f"{month}.{source}.parquet"


def evidence_glob(settings: Settings) -> str:
    """The glob of every committed evidence file (for DuckDB's read_parquet)."""
    return str(evidence_dir(settings.lake_dir) / "month=*" / "source=*" / "*.parquet")


def has_evidence(lake_dir: Path) -> bool:
    return bool(LakeListing.of(lake_dir).files())


def parquet_list(paths: Iterable[Path]) -> str:
    """A DuckDB list literal of file paths, for `read_parquet([...])`."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def evidence_view(
    connection: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    name: str = "evidence",
    *,
    union_by_name: bool = True,
) -> None:
    """A view `name` over these lake files (an empty one with the lake's columns if none).

    `source` is a column of the files, so the hive partition names are not read as columns.
    `union_by_name` reads every file's schema when the view is made (files of older schemas);
    without it only the first file's is read until the view is queried.
    """
    if files:
        union = "true" if union_by_name else "false"
        connection.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet("
            f"{parquet_list(files)}, hive_partitioning = false, union_by_name = {union})"
        )
    else:
        connection.register(f"_empty_{name}", LAKE_SCHEMA.empty_table())
        connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM _empty_{name}")


def open_lake(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view `evidence` over the committed lake (the
    files listed now). An empty lake gives an empty view with the same columns."""
    connection = duckdb.connect()
    evidence_view(connection, LakeListing.of(settings.lake_dir).files())
    return connection


# ---------------------------------------------------------------------------------------------
# Listing the lake without walking it every time.


def _modified_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return -1


@dataclass
class _Folder:
    modified_ns: int
    files: tuple[Path, ...]


class LakeListing:
    """The committed files of one lake, kept in memory per process.

    A folder's listing is read again only when its modification time changed: a file renamed
    into `source=S/` changes that folder's time, a new `source=S/` changes its month's, a new
    month changes `evidence/`'s. A folder modified within the last `RECENT_NS` is always read
    again: two changes within one tick of the file system's clock leave one time (the way git
    treats "racily clean" files).
    """

    RECENT_NS = 2_000_000_000
    _instances: ClassVar[dict[Path, LakeListing]] = {}

    def __init__(self, lake_dir: Path) -> None:
        self.root = evidence_dir(lake_dir)
        self._months: dict[Path, _Folder] = {}  # month folder → its source folders
        self._sources: dict[Path, _Folder] = {}  # source folder → its parquet files
        self._top: _Folder | None = None

    @classmethod
    def of(cls, lake_dir: Path) -> LakeListing:
        key = lake_dir.resolve()
        found = cls._instances.get(key)
        if found is None:
            found = cls._instances[key] = cls(lake_dir)
        return found

    def _listed(
        self, known: _Folder | None, folder: Path, prefix: str, suffix: str, now_ns: int
    ) -> _Folder:
        """`known` if the folder did not change since, else the folder read again."""
        modified_ns = _modified_ns(folder)
        if (
            known is not None
            and known.modified_ns == modified_ns
            and now_ns - modified_ns >= self.RECENT_NS
        ):
            return known
        try:
            names = [e.name for e in os.scandir(folder)]
        except FileNotFoundError:
            names = []
        children = sorted(folder / n for n in names if n.startswith(prefix) and n.endswith(suffix))
        return _Folder(modified_ns, tuple(children))

    def refresh(self) -> None:
        now_ns = time.time_ns()
        self._top = self._listed(self._top, self.root, "month=", "", now_ns)
        months: dict[Path, _Folder] = {}
        sources: dict[Path, _Folder] = {}
        for month in self._top.files:
            months[month] = self._listed(self._months.get(month), month, "source=", "", now_ns)
            for source in months[month].files:
                sources[source] = self._listed(
                    self._sources.get(source), source, "", ".parquet", now_ns
                )
        self._months, self._sources = months, sources

    def files(self) -> list[Path]:
        """Every committed evidence file, sorted by path."""
        self.refresh()
        return [path for folder in self._sources.values() for path in folder.files]

    def files_since(self, month: str) -> list[Path]:
        """The files of months `month` ('YYYY-MM') and later."""
        return [p for p in self.files() if p.parent.parent.name >= f"month={month}"]


# ---------------------------------------------------------------------------------------------
# Record keys: exactly-once per source without keeping record ids in memory.


def record_keys(record_ids: pa.Array | pa.ChunkedArray) -> I64:
    """A 64-bit BLAKE2b hash of each record id (UTF-8), as int64.

    Two different record ids of one source get the same key with probability about
    n² / 2⁶⁵ over n records: 3 × 10⁻⁶ for 10 million records of one source, so a new record is
    mistaken for a re-sent one less than once in 300,000 Bozhou-sized sources.
    """
    values = record_ids.to_pylist()
    keys = np.empty(len(values), dtype=np.int64)
    blake2b = hashlib.blake2b
    for i, value in enumerate(values):
        digest = blake2b(value.encode("utf-8"), digest_size=8).digest()
        keys[i] = int.from_bytes(digest, "little", signed=True)
    return keys


class KeySet:
    """The record keys of one source already in the lake: sorted runs, merged like a binary
    counter (a run is merged into the previous one when that is not more than twice its size),
    so adding a batch costs amortised O(log n) per key and looking up stays a few
    `np.searchsorted` calls."""

    def __init__(self, keys: I64 | None = None) -> None:
        self._runs: list[I64] = []
        if keys is not None and keys.size:
            self.add(keys)

    def __len__(self) -> int:
        return sum(run.size for run in self._runs)

    def contains(self, keys: I64) -> npt.NDArray[np.bool_]:
        found = np.zeros(keys.size, dtype=bool)
        for run in self._runs:
            positions = np.searchsorted(run, keys)
            positions[positions == run.size] = 0
            found |= run[positions] == keys
        return found

    def keys(self) -> I64:
        """Every key, sorted within runs (for merging a batch's keys into the source's)."""
        if not self._runs:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(self._runs)

    def add(self, keys: I64) -> None:
        if not keys.size:
            return
        run = np.unique(keys)
        while self._runs and self._runs[-1].size <= 2 * run.size:
            run = np.union1d(self._runs.pop(), run)
        self._runs.append(run)


def load_key_set(lake_dir: Path, source: str) -> KeySet:
    """The keys of every committed record of `source` (read from the `record_key` column)."""
    files = [p for p in lake_files(lake_dir) if p.parent.name == f"source={source}"]
    if not files:
        return KeySet()
    parts = [pq.read_table(path, columns=["record_key"]).column(0) for path in files]
    keys = pa.chunked_array([chunk for part in parts for chunk in part.chunks], pa.int64())
    return KeySet(keys.to_numpy())


# ---------------------------------------------------------------------------------------------
# Writing a batch.


@dataclass
class _MonthRun:
    tables: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    writer: pq.ParquetWriter | None = None


class BatchWriter:
    """Writes one batch's records into its staging folder, one file per month.

    Records are buffered per month and written as a sorted run (by person, then event time;
    records of non-recipients last) every `RUN_ROWS` rows and at `close()`: a file of up to
    `RUN_ROWS` records of a month is fully sorted, its row groups cover narrow ranges of
    `person_id`, and memory stays bounded for any file size.
    """

    def __init__(self, lake_dir: Path, batch_id: int, source: str) -> None:
        self.lake_dir = lake_dir
        self.batch_id = batch_id
        self.source = source
        self.root = staging_dir(lake_dir, batch_id)
        self._months: dict[str, _MonthRun] = {}
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        """Add records (columns of `LAKE_SCHEMA`, any order)."""
        if not table.num_rows:
            return
        table = table.select(list(LAKE_COLUMNS)).cast(LAKE_SCHEMA)
        seconds = table.column("event_time").to_numpy().astype("datetime64[s]")
        months = seconds.astype("datetime64[M]")
        for month in np.unique(months):
            mask = months == month
            part = table.filter(pa.array(mask)) if not mask.all() else table
            label = str(month)  # YYYY-MM
            run = self._months.setdefault(label, _MonthRun())
            run.tables.append(part)
            run.rows += part.num_rows
            if run.rows >= RUN_ROWS:
                self._flush(label, run)
        self.rows += table.num_rows

    def _flush(self, month: str, run: _MonthRun) -> None:
        if not run.tables:
            return
        table = pa.concat_tables(run.tables)
        table = table.take(
            pc.sort_indices(
                table,
                [
                    ("person_id", "ascending", "at_end"),
                    ("event_time", "ascending", "at_end"),
                    ("row", "ascending", "at_end"),
                ],
            )
        )
        if run.writer is None:
            path = self.root / staged_name(month, self.source)
            self.root.mkdir(parents=True, exist_ok=True)
            run.writer = pq.ParquetWriter(
                path, LAKE_SCHEMA, compression="zstd", use_dictionary=["evidence_type", "source"]
            )
        run.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        run.tables = []
        run.rows = 0

    def flush(self) -> None:
        """Write every buffered run now (the files stay open)."""
        for month, run in sorted(self._months.items()):
            self._flush(month, run)

    def close(self) -> list[Path]:
        """Write what is buffered, close the files, fsync them; the staged paths."""
        written: list[Path] = []
        for month, run in sorted(self._months.items()):
            self._flush(month, run)
            assert run.writer is not None
            run.writer.close()
            staged = self.root / staged_name(month, self.source)
            _fsync(staged)
            written.append(staged)
        self._months.clear()
        return written

    def abort(self) -> None:
        for run in self._months.values():
            if run.writer is not None:
                run.writer.close()
        self._months.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _fsync(path: Path) -> None:
    if os.environ.get(FSYNC_ENV, "1") == "0":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(lake_dir: Path, batch_id: int) -> int:
    """Rename a committed batch's staged files into `evidence/` and remove its staging folder.

    Idempotent: a file already in place (a previous attempt got that far) is left alone.
    Returns the number of files moved.
    """
    root = staging_dir(lake_dir, batch_id)
    moved = 0
    if root.is_dir():
        for staged in sorted(root.glob("*.parquet")):
            month, source, _ = staged.name.split(".", 2)
            target = lake_dir / partition_path(month, source, batch_id)
            if not target.parent.is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
            # No fsync of the folder: if a power loss undid this rename, the file would be back
            # in staging and the batch still committed, and recover() renames it again.
            os.replace(staged, target)
            moved += 1
        try:
            root.rmdir()
        except OSError:
            shutil.rmtree(root, ignore_errors=True)
    return moved


def discard(lake_dir: Path, batch_id: int) -> None:
    """Remove an uncommitted batch's staging folder."""
    shutil.rmtree(staging_dir(lake_dir, batch_id), ignore_errors=True)


def staged_batches(lake_dir: Path) -> list[int]:
    """Batch ids that have a staging folder or lock file."""
    root = lake_dir / STAGING_DIR
    if not root.is_dir():
        return []
    found: set[int] = set()
    for entry in root.iterdir():
        name = entry.name.removesuffix(".lock")
        if name.startswith("batch-") and name[6:].isdigit():
            found.add(int(name[6:]))
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# Batch locks: an ingesting process holds an flock on `_staging/batch-N.lock`. The kernel drops
# it when the process dies (even by SIGKILL), so `recover()` can tell a crashed batch from one
# another live process is still writing.


class BatchLock:
    def __init__(self, lake_dir: Path, batch_id: int) -> None:
        self.path = lake_dir / STAGING_DIR / f"batch-{batch_id}.lock"
        self._handle: IO[bytes] | None = None

    def acquire(self, *, wait: bool = True) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self, *, remove: bool = True) -> None:
        if self._handle is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def __enter__(self) -> BatchLock:
        self.acquire()
        return self

    def __exit__(self, *_: Any) -> None:
        self.release()


def lake_files(lake_dir: Path) -> Iterator[Path]:
    """Every committed evidence file, sorted by path."""
    yield from LakeListing.of(lake_dir).files()


def batch_files(lake_dir: Path, batch_ids: Iterable[int]) -> list[Path]:
    wanted = {f"batch-{batch_id}.parquet" for batch_id in batch_ids}
    return [path for path in lake_files(lake_dir) if path.name in wanted]
