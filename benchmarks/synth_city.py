"""Benchmark: generate the synthetic city at a given scale and report time and memory.

    .venv/bin/python benchmarks/synth_city.py                 # Bozhou scale, 1,360,000 recipients
    .venv/bin/python benchmarks/synth_city.py --recipients 100000 --no-feeds

Runs `lifesign synth` in a subprocess, samples the memory of its whole process tree every
0.1 s (PSS: the forked workers share pages), and prints the total time, the time per stage, the
peak memory, the records written, and the ratio to a baseline measured in the same run: the
time pyarrow.csv takes to write the same number of rows of random integers (4 columns), i.e.
the bare cost of writing that much CSV on this machine. Never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Memory of `root` and all its descendants (PSS from /proc, RSS as a fallback)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * PAGE
    tree = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return sum(_pss(pid, rss.get(pid, 0)) for pid in tree)


def _pss(pid: int, fallback: int) -> int:
    """Proportional set size: forked workers share the parent's arrays (copy-on-write), so
    summing their RSS would count those pages once per process."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return fallback


def baseline_seconds(rows: int, folder: Path) -> float:
    """Seconds to write `rows` rows of 4 random integer columns with pyarrow.csv."""
    rng = np.random.default_rng(0)
    chunk = 4_000_000
    start = time.perf_counter()
    schema = pa.schema([(f"c{i}", pa.int64()) for i in range(4)])
    with pacsv.CSVWriter(folder / "baseline.csv", schema) as writer:
        for done in range(0, rows, chunk):
            k = min(chunk, rows - done)
            cols = [pa.array(rng.integers(0, 10**8, k)) for _ in range(4)]
            writer.write_batch(pa.record_batch(cols, schema=schema))
    seconds = time.perf_counter() - start
    (folder / "baseline.csv").unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_360_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--no-feeds", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the generated city")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="lifesign-bench-")
    out = args.out or Path(tmp.name) / "city"
    timings = Path(tmp.name) / "timings.json"
    command = [
        sys.executable, "-m", "lifesign.synth.cli",
        "--recipients", str(args.recipients), "--seed", str(args.seed),
        "--workers", str(args.workers), "--out", str(out), "--timings", str(timings),
    ]  # fmt: skip
    if args.no_feeds:
        command.append("--no-feeds")
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.1)
    total = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"lifesign synth failed with exit code {proc.returncode}")
    report = json.loads(timings.read_text(encoding="utf-8"))
    rows = report["payments"] + report["evidence_records"]
    base = baseline_seconds(rows, Path(tmp.name))

    print(f"synthetic city: {args.recipients:,} recipients, seed {args.seed}, "
          f"{args.workers} workers{' (no feeds)' if args.no_feeds else ''}")  # fmt: skip
    print(f"  total time          {total:8.1f} s")
    for stage, seconds in report["seconds"].items():
        print(f"    {stage:<17} {seconds:8.1f} s")
    print(f"  peak memory (tree)  {peak / 2**30:8.2f} GiB")
    print(f"  people              {report['people']:>12,}")
    print(f"  enrollments         {report['enrollments']:>12,}")
    print(f"  payment rows        {report['payments']:>12,}")
    print(f"  evidence records    {report['evidence_records']:>12,}")
    for window, share in report["coverage"].items():
        print(f"  coverage {window:<20} {share:.1%}")
    print(f"  baseline: pyarrow.csv writes {rows:,} rows of 4 random ints in {base:.1f} s")
    print(f"  ratio to baseline   {total / base:8.2f}x" if base > 0 else "")
    if args.keep and args.out is None:
        print(f"  kept in {out}")
        return
    tmp.cleanup()


if __name__ == "__main__":
    main()
