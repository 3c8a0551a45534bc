"""Benchmark: write the department feeds of a synthetic city.

    .venv/bin/python benchmarks/synth_feeds.py                  # Bozhou scale, 1.36 M recipients
    .venv/bin/python benchmarks/synth_feeds.py --recipients 100000

Builds the population (lifesign.synth.population, vectorised), runs `write_feeds`, and prints
records, records/s, time per feed, peak RSS, coverage, and the ratio to a baseline measured in
the same run: pyarrow.csv writing the same number of rows of plain integers (4 int64 columns).
Never fails on timing.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from lifesign.catalog import load_catalog
from lifesign.synth.config import SynthConfig
from lifesign.synth.feeds import write_feeds
from lifesign.synth.population import generate_population


def baseline(rows: int, path: Path) -> float:
    """Seconds for pyarrow.csv to write `rows` rows of 4 int64 columns, in 1 M-row chunks."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    with pacsv.CSVWriter(path, pa.schema([(f"c{i}", pa.int64()) for i in range(4)])) as w:
        done = 0
        while done < rows:
            k = min(1_000_000, rows - done)
            w.write_table(pa.table({f"c{i}": rng.integers(0, 10**12, k) for i in range(4)}))
            done += k
    return time.perf_counter() - t0


def peak_rss_gib() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return me, kids


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipients", type=int, default=1_360_000)
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="keep the city here (default: temp)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lifesign-feeds-"))
    out = args.out or tmp / "city"
    try:
        cat = load_catalog(None)
        cfg = SynthConfig(recipients=args.recipients, seed=args.seed, out=out, workers=args.workers)
        t0 = time.perf_counter()
        pop = generate_population(cfg, cat)
        t_pop = time.perf_counter() - t0
        print(f"population: {pop.n:,} people ({args.recipients:,} recipients) in {t_pop:.1f} s")

        def progress(source: str, done: int, total: int) -> None:
            print(f"  [{done:2d}/{total}] {source}", file=sys.stderr)

        rep = write_feeds(pop, cat, cfg, progress)
        t_base = baseline(rep.records, tmp / "baseline.csv")
        me, kids = peak_rss_gib()
        per = rep.records / args.recipients
        print(f"\nfeeds: {rep.records:,} records ({per:.1f} per recipient) in {rep.files:,} files")
        print(f"time:  {rep.seconds:.1f} s  ({rep.records / rep.seconds:,.0f} records/s)")
        print(f"baseline (pyarrow.csv, {rep.records:,} rows x 4 int64): {t_base:.1f} s"
              f"  -> ratio {rep.seconds / t_base:.2f}")  # fmt: skip
        print(f"peak RSS: parent {me:.2f} GiB, largest worker {kids:.2f} GiB")
        print("coverage (living recipients with a strong record): "
              + ", ".join(f"{k} {v:.1%}" for k, v in rep.coverage.items())
              + f"  (expected {rep.expected_coverage:.1%})")  # fmt: skip
        print(f"dirt: {sum(rep.dirt.values()):,} ({sum(rep.dirt.values()) / rep.records:.2%})"
              f"  death records: {rep.death_records:,}")  # fmt: skip
        print(f"\n{'feed':26s} {'records':>11s} {'seconds':>8s}")
        for src, n in sorted(rep.records_by_source.items(), key=lambda kv: -kv[1]):
            print(f"{src:26s} {n:11,d} {rep.seconds_by_source[src]:8.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
