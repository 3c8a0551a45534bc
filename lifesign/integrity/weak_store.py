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
the next update overwrites. Parts are merged by size tier when there are more than
`data/scan.yaml`'s `weak_store_max_parts`. Records are filtered by event time when read, as
the whole lake would be: the store holds every committed weak record, whatever its date. The
machinery is the lake's person-sorted store (lifesign.ingest.person_store), shared with the
person page's evidence store.
"""

from __future__ import annotations

from pathlib import Path

from lifesign.ingest.person_store import (
    COLUMNS,
    MANIFEST,
    Manifest,
    PersonSortedStore,
    Update,
)

__all__ = [
    "COLUMNS",
    "MANIFEST",
    "STORE_DIR",
    "Manifest",
    "PersonSortedStore",
    "Update",
    "WeakStore",
]

STORE_DIR = Path("_integrity") / "weak"


class WeakStore(PersonSortedStore):
    """The integrity scan's store of weak records (`LAKE/_integrity/weak`)."""

    def __init__(self, lake_dir: Path, max_parts: int, store_dir: Path = STORE_DIR) -> None:
        super().__init__(lake_dir, max_parts, store_dir)
