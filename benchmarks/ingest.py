"""Benchmark: evidence ingestion.

    .venv/bin/python benchmarks/ingest.py                      # (a) bulk GBK CSV, one core
    .venv/bin/python benchmarks/ingest.py --records 5000000
    .venv/bin/python benchmarks/ingest.py --city /tmp/city100k # (b) a whole synthetic city

(a) Writes a GBK CSV in the 医保 settlement shape (yibao_settle: 7 columns, ~0.5% dirty ID
numbers, half the records about non-recipients) and a registry of the recipients, then, pinned
to ONE core (CPU affinity, Arrow's thread pools at 1), ingests it as one batch: reading,
validation, registry lookup, pseudonyms, duplicates, Parquet. Prints records per minute
(target: 1 M/min) and the ratio to a baseline measured in the same run on the same core:
pyarrow reading the same GBK file and writing it to Parquet (zstd) with no validation.

(b) Imports the city's registry, then runs `lifesign ingest all CITY --as-of 2026-10-31` in a
subprocess and prints its time and the peak memory of its process tree (PSS, sampled every
0.1 s; target < 4 GiB at Bozhou scale). Never fails on timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from synth_city import tree_rss  # benchmarks are scripts, not a package

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
REGIONS = np.array([341602, 341621, 341622, 341623], dtype=np.int64)
TYPES = ["住院", "门诊慢特病", "药店刷脸购药", "普通门诊", "药店刷卡购药"]
NAMES = ["张秀英", "王建国", "李桂兰", "刘德华", "陈淑珍", "杨志强", "赵玉梅", "黄明"]
PLACES = ["亳州市人民医院", "谯城区中医院", "涡阳县人民医院", "义门镇卫生院"]
HEADER = "结算流水号,公民身份号码,姓名,结算类型,结算时间,定点机构,统筹支付金额\n"


def make_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct valid 18-character ID numbers as an (n, 18) uint8 matrix."""
    region = rng.choice(REGIONS, n)
    born = np.datetime64("1930-01-01") + rng.integers(0, 365 * 60, n).astype("timedelta64[D]")
    ymd = np.char.replace(np.datetime_as_string(born, unit="D"), "-", "").astype(np.int64)
    sequence = np.arange(n, dtype=np.int64) % 1000
    first17 = region * 10**11 + ymd * 1000 + sequence
    # distinct: sequence runs over n, and collisions of (region, day, seq) are dropped later
    digits = (first17[:, None] // 10 ** np.arange(16, -1, -1)) % 10
    total = (digits * WEIGHTS).sum(axis=1) % 11
    matrix = np.empty((n, 18), dtype=np.uint8)
    matrix[:, :17] = digits + ord("0")
    matrix[:, 17] = CHECK[total]
    return matrix


def strings(matrix: np.ndarray) -> pa.Array:
    return pa.array(matrix.copy().view("S18").ravel()).cast(pa.string())


def write_city(folder: Path, records: int, recipients: int, seed: int) -> tuple[Path, Path]:
    """people.csv of `recipients` people and a GBK settlement CSV of `records` records."""
    rng = np.random.default_rng(seed)
    people = strings(make_ids(rng, recipients * 2))
    people = pc.unique(people)
    registry, others = people[: len(people) // 2], people[len(people) // 2 :]
    registry_dir = folder / "registry"
    registry_dir.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(
        pa.table(
            {
                "id_number": registry,
                "name": pa.array(["张三"] * len(registry)),
                "grid_code": pa.array(["341602001001001"] * len(registry)),
            }
        ),
        registry_dir / "people.csv",
    )
    who = rng.integers(0, len(people), records)
    ids = pc.take(people, pa.array(who))
    dirty = np.flatnonzero(rng.random(records) < 0.005)
    if dirty.size:  # a bad check character on 0.5% of the records
        broken = [
            v[:17] + ("0" if v[17] != "0" else "1") for v in ids.take(pa.array(dirty)).to_pylist()
        ]
        mask = np.zeros(records, dtype=bool)
        mask[dirty] = True
        ids = pc.replace_with_mask(ids, pa.array(mask), pa.array(broken))
    start = np.datetime64("2025-01-01T00:00:00")
    seconds = rng.integers(0, 365 * 86400, records).astype("timedelta64[s]")
    times = np.sort(start + seconds)
    table = pa.table(
        {
            "id": pc.binary_join_element_wise("YB", pa.array(np.arange(records).astype(str)), ""),
            "id_number": ids,
            "name": pc.take(pa.array(NAMES), pa.array(rng.integers(0, len(NAMES), records))),
            "type": pc.take(pa.array(TYPES), pa.array(rng.integers(0, len(TYPES), records))),
            "time": pc.strftime(pa.array(times, pa.timestamp("s")), "%Y-%m-%d %H:%M:%S"),
            "place": pc.take(pa.array(PLACES), pa.array(rng.integers(0, len(PLACES), records))),
            "amount": pa.array(np.round(rng.random(records) * 1000, 2).astype(str)),
        }
    )
    line = pc.binary_join_element_wise(*table.columns, ",")
    path = folder / "yibao_settle_20250101.csv"
    with path.open("wb") as handle:
        handle.write(HEADER.encode("gbk"))
        step = 500_000
        for begin in range(0, records, step):
            part = line.slice(begin, step)
            handle.write(("\n".join(part.to_pylist()) + "\n").encode("gbk"))
    del others
    return registry_dir, path


def one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def baseline(path: Path, out: Path) -> float:
    """pyarrow reads the GBK CSV and writes Parquet (zstd): no validation, nothing else."""
    started = time.perf_counter()
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(encoding="gbk", block_size=32 << 20),
        convert_options=pacsv.ConvertOptions(column_types={"公民身份号码": pa.string()}),
    )
    writer: pq.ParquetWriter | None = None
    for batch in reader:
        if writer is None:
            writer = pq.ParquetWriter(out, batch.schema, compression="zstd")
        writer.write_batch(batch)
    if writer is not None:
        writer.close()
    return time.perf_counter() - started


def bulk(records: int, recipients: int, seed: int) -> None:
    from lifesign.catalog import load_catalog
    from lifesign.config import load_settings
    from lifesign.ingest.pipeline import Ingestor
    from lifesign.ingest.sources import load_sources
    from lifesign.registry.importer import RegistryImporter, rules_from_catalog
    from lifesign.registry.pseudonym import Pseudonymizer
    from lifesign.store import open_database

    with tempfile.TemporaryDirectory(prefix="lifesign-ingest-bench-") as temp:
        folder = Path(temp)
        started = time.perf_counter()
        registry, path = write_city(folder, records, recipients, seed)
        size = path.stat().st_size
        print(
            f"generated {records:,} records ({size / 2**20:,.0f} MiB GBK) and "
            f"{recipients:,} recipients in {time.perf_counter() - started:.1f} s"
        )
        settings = load_settings(home=folder / "home")
        engine = open_database(settings)
        catalog = load_catalog(settings.catalog_dir)
        started = time.perf_counter()
        RegistryImporter(
            engine, Pseudonymizer.for_home(settings.secrets_dir), rules_from_catalog(None)
        ).import_dir(registry)
        print(f"registry imported in {time.perf_counter() - started:.1f} s")
        sources = load_sources(None, catalog)
        one_core()
        base = baseline(path, folder / "baseline.parquet")
        ingestor = Ingestor(settings, catalog, sources, dt.date(2025, 12, 31), engine=engine)
        started = time.perf_counter()
        ingestor.recipients  # noqa: B018 - loaded once per Ingestor; timed apart
        load = time.perf_counter() - started
        started = time.perf_counter()
        report = ingestor.ingest_file(sources["yibao_settle"], path)
        seconds = time.perf_counter() - started
        print(f"registry lookup loaded in {load:.2f} s (once per Ingestor)")
        print(
            f"ingest, one core: {seconds:.1f} s, {records / seconds * 60 / 1e6:.2f} M records/min "
            f"(target 1 M/min); {report.accepted:,} accepted, {report.not_recipient:,} not "
            f"recipients, {report.rejected:,} rejected {dict(report.rejected_by_reason)}"
        )
        print(
            f"baseline (pyarrow GBK CSV -> Parquet, no validation), one core: {base:.1f} s, "
            f"{records / base * 60 / 1e6:.2f} M records/min; ratio ingest/baseline = "
            f"{seconds / base:.2f}"
        )


def city(directory: Path, as_of: str, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lifesign-ingest-city-") as temp:
        env = {**os.environ, "LIFESIGN_HOME": temp}
        env.pop("LIFESIGN_DATABASE_URL", None)
        lifesign = [sys.executable, "-c", "from lifesign.cli import main; main()"]
        started = time.perf_counter()
        subprocess.run(
            [*lifesign, "registry", "import", str(directory / "registry")],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"registry imported in {time.perf_counter() - started:.1f} s")
        command = [*lifesign, "ingest", "all", str(directory), "--as-of", as_of]
        if workers > 1:
            command += ["--workers", str(workers)]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env={**env, "COLUMNS": "160"}, stdout=subprocess.PIPE, text=True
        )
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss(process.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        output, _ = process.communicate()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        summary = output.find("ingest (by source)")
        print(output[summary - 40 :] if summary >= 40 else output[-6000:])
        if process.returncode:
            print(f"ingest all failed with exit code {process.returncode}")
            return
        lake = Path(temp) / "lake" / "evidence"
        files = list(lake.glob("*/*/*.parquet"))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        size = sum(f.stat().st_size for f in files)
        print(
            f"ingest all: {seconds:.1f} s, peak memory of the process tree "
            f"{peak[0] / 2**30:.2f} GiB (target < 4 GiB at Bozhou scale); lake: {rows:,} records "
            f"in {len(files):,} files, {size / 2**20:,.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--city", type=Path, default=None, help="ingest this synthetic city")
    parser.add_argument("--as-of", default="2026-10-31")
    parser.add_argument("--workers", type=int, default=1)
    arguments = parser.parse_args()
    if arguments.city is not None:
        city(arguments.city, arguments.as_of, arguments.workers)
    else:
        bulk(arguments.records, arguments.recipients, arguments.seed)


if __name__ == "__main__":
    main()
