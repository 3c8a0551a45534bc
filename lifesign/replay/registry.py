"""The synthetic city's registry as it stood when the replay's history begins.

`lifesign synth` writes the registry as of the window's END: an enrollment ended by a death in
the window is already `terminated` with its end date, an imprisoned person's already
`suspended`. Replaying the window with that registry would hand the platform the answers it is
meant to find. So a replay imports a copy in which every enrollment still running on `day`
(the window's first day) is `active` with no end date; enrollments that ended before `day`
keep their end. People and the payment ledger are copied as they are (the ledger is what the
paying departments paid, without the platform: the overpayments to find are in it).
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

from lifesign.errors import Location
from lifesign.replay.release import ReplayInputError

FILES = ("people.csv", "enrollments.csv", "payments.csv")


def registry_as_of(registry: Path, day: dt.date, out: Path) -> Path:
    """Write the registry of `day` into `out` (people and payments copied); `out`."""
    for name in FILES:
        if not (registry / name).is_file():
            raise ReplayInputError(
                "incomplete registry", f"{name} is missing", Location(file=str(registry / name))
            )
    out.mkdir(parents=True, exist_ok=True)
    for name in ("people.csv", "payments.csv"):
        target = out / name
        if not target.exists() or target.stat().st_size != (registry / name).stat().st_size:
            shutil.copyfile(registry / name, target)
    source = registry / "enrollments.csv"
    with (
        source.open(encoding="utf-8", newline="") as reading,
        (out / "enrollments.csv").open("w", encoding="utf-8", newline="") as writing,
    ):
        reader = csv.DictReader(reading)
        assert reader.fieldnames is not None
        writer = csv.DictWriter(writing, reader.fieldnames)
        writer.writeheader()
        for row in reader:
            end = row.get("end_date") or ""
            if row["status"] != "active" and (not end or dt.date.fromisoformat(end) >= day):
                row["status"], row["end_date"] = "active", ""
            writer.writerow(row)
    return out
