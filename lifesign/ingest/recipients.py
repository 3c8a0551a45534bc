"""Who is a recipient: the registry's ID numbers mapped to (person_id, pseudonym), in memory.

Loaded once per `Ingestor` (about 60 bytes a person: 80 MB at Bozhou scale) and joined with
each chunk vectorised. The join key is the ID number packed into an int64 (`validate.id_keys`)
and looked up with `np.searchsorted` in the sorted registry keys: unlike `pc.index_in`, which
builds a hash table of its value set on every call, the sorted array is built once, so a daily
feed of 20 records costs microseconds, not the hashing of a million registry numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sqlalchemy import Engine, select

from lifesign.ingest.validate import id_keys
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store.models import Person

I64 = npt.NDArray[np.int64]


@dataclass
class Lookup:
    found: npt.NDArray[np.bool_]
    person_id: pa.Array  # int64, null where not a recipient
    pseudonym: pa.Array  # string, null where not a recipient


class Recipients:
    """The registry's people with an ID number, sorted by packed ID key."""

    def __init__(self, keys: I64, person_ids: I64, pseudonyms: pa.Array) -> None:
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._person_ids = person_ids[order]
        self._pseudonyms = pseudonyms.take(pa.array(order))

    def __len__(self) -> int:
        return int(self._keys.size)

    @classmethod
    def load(cls, engine: Engine) -> Recipients:
        """Every person of the registry that has an ID number."""
        people = Person.__table__
        ids: list[str] = []
        person_ids: list[int] = []
        pseudonyms: list[str] = []
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=100_000).execute(
                select(people.c.id_number, people.c.person_id, people.c.pseudonym).where(
                    people.c.id_number.is_not(None)
                )
            )
            for partition in result.partitions():
                for id_number, person_id, pseudonym in partition:
                    ids.append(id_number)
                    person_ids.append(person_id)
                    pseudonyms.append(pseudonym)
        keys = id_keys(pa.array(ids, pa.string()))
        valid = keys >= 0  # the registry import only stores normalised numbers; be safe anyway
        return cls(
            keys[valid],
            np.asarray(person_ids, dtype=np.int64)[valid],
            pa.array(pseudonyms, pa.string()).filter(pa.array(valid)),
        )

    def lookup(self, keys: I64) -> Lookup:
        """Registry rows of packed ID keys (-1: no ID number, never found)."""
        if not self._keys.size:
            return Lookup(
                np.zeros(keys.size, dtype=bool),
                pa.nulls(keys.size, pa.int64()),
                pa.nulls(keys.size, pa.string()),
            )
        positions = np.searchsorted(self._keys, keys)
        positions[positions == self._keys.size] = 0
        found = (self._keys[positions] == keys) & (keys >= 0)
        person_id = pa.array(self._person_ids[positions], pa.int64(), mask=~found)
        pseudonym = self._pseudonyms.take(pa.array(positions, mask=~found))
        return Lookup(found, person_id, pseudonym)


def pseudonyms_of(pseudonymizer: Pseudonymizer, canonical_ids: pa.Array) -> pa.Array:
    """HMAC pseudonyms of normalised ID numbers (for non-recipients a source keeps)."""
    return pa.array(
        [None if v is None else pseudonymizer.pseudonym(v) for v in canonical_ids.to_pylist()],
        pa.string(),
    )
