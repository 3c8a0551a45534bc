"""Benchmark: the year's replay of a 100,000-recipient synthetic city.

    python benchmarks/replay_year.py [--recipients 100000] [--home DIR] [--days N]

Makes the city (`lifesign synth`, timed apart), imports its registry as of the window start,
loads the history (the first 12 months, one full pass) and replays the last 12 months day by
day through the daily run with the simulated people's side (`lifesign replay`). Prints the
time of each part and the mean and slowest day. `--days N` replays only the first N days and
prints the extrapolation to 365 days, labelled as such. `--home` reuses a home: the replay
continues after its last finished day (then only the days run now are counted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lifesign.catalog import load_catalog
from lifesign.config import load_settings
from lifesign.replay.runner import DayFigures, Replay, default_period
from lifesign.replay.truth import read_window
from lifesign.synth.city import build_city
from lifesign.synth.config import SynthConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--days", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("LIFESIGN_LAKE_FSYNC", "0")  # a throwaway home: no power loss to survive
    home: Path = args.home or Path(tempfile.mkdtemp(prefix="replay-year-"))
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")
    settings.ensure_home()
    city = home / "city"
    catalog = load_catalog(None)
    if not (city / "truth" / "summary.json").exists():
        started = time.perf_counter()
        config = SynthConfig(recipients=args.recipients, seed=args.seed, out=city, workers=2)
        build_city(config, catalog)
        print(
            f"city of {args.recipients:,} recipients made in {time.perf_counter() - started:.0f} s"
        )
    period = default_period(read_window(city), days=args.days)
    days: list[DayFigures] = []
    cpu: list[float] = []  # CPU seconds of each day (the machine is shared: wall hides it)
    cpu_at = [time.process_time()]

    def on_day(figures: DayFigures) -> None:
        days.append(figures)
        now = time.process_time()
        cpu.append(now - cpu_at[0])
        cpu_at[0] = now
        if len(days) % 10 == 0 or figures.seconds > 60:
            print(
                f"  {figures.day}: {figures.seconds:.1f} s ({cpu[-1]:.1f} s CPU), certified "
                f"{figures.certified:,}, suspended {figures.suspended:,}, "
                f"deaths {figures.deaths:,}",
                flush=True,
            )

    replay = Replay(
        settings,
        city,
        period,
        catalog=catalog,
        on_day=on_day,
        on_stage=lambda text: print(text, flush=True),
    )
    started = time.perf_counter()
    cpu_started = time.process_time()  # the machine is shared: CPU time says what wall hides
    imported = 0.0
    if not replay.has_registry():
        replay.import_registry()
        imported = time.perf_counter() - started
        print(f"registry imported in {imported:.0f} s")
    result = replay.run()
    print(f"\n{args.recipients:,} recipients, {period.first} .. {period.last}")
    print(f"registry import          {imported:8.0f} s")
    print(f"history (ingest + pass)  {result.history_seconds:8.0f} s")
    if days:
        seconds = [d.seconds for d in days]
        mean = statistics.mean(seconds)
        print(
            f"{len(days)} replayed days       {sum(seconds):8.0f} s  (mean {mean:.2f} s a day, "
            f"slowest {max(seconds):.1f} s on {max(days, key=lambda d: d.seconds).day})"
        )
        print(
            f"  CPU of the days        {sum(cpu):8.0f} s  (mean {statistics.mean(cpu):.2f} s, "
            f"median {statistics.median(cpu):.2f} s, slowest {max(cpu):.1f} s on "
            f"{days[cpu.index(max(cpu))].day})"
        )
        if len(days) < 365:
            print(
                f"EXTRAPOLATED to 365 days: {365 * mean:.0f} s of days, "
                f"{365 * statistics.mean(cpu):.0f} s of CPU "
                f"(+ history) — measured on {len(days)} days only"
            )
    print(
        f"total                    {time.perf_counter() - started:8.0f} s "
        f"(CPU {time.process_time() - cpu_started:.0f} s, DuckDB's threads included)"
    )
    print(f"home: {home}")


if __name__ == "__main__":
    main()
