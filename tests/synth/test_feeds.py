"""The department feeds of a small synthetic city: shapes, event model, dirt, truth."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pyarrow as pa
import pytest

from lifesign.catalog import load_catalog
from lifesign.registry.ids import try_normalize_id_number
from lifesign.synth.config import SynthConfig
from lifesign.synth.feeds import DIRT_RATE, FeedReport, FeedShape, load_shapes, write_feeds
from lifesign.synth.feeds.render import date_strings, format_day
from lifesign.synth.population import Population, generate_population

RECIPIENTS = 2000
AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def catalog() -> Any:
    return load_catalog(None)


@pytest.fixture(scope="module")
def city(
    tmp_path_factory: pytest.TempPathFactory, catalog: Any
) -> tuple[SynthConfig, Population, FeedReport]:
    out = tmp_path_factory.mktemp("city")
    cfg = SynthConfig(recipients=RECIPIENTS, seed=11, out=out, workers=2)
    pop = generate_population(cfg, catalog)
    seen: list[tuple[str, int, int]] = []
    report = write_feeds(pop, catalog, cfg, lambda s, d, t: seen.append((s, d, t)))
    assert seen and seen[-1][1] == seen[-1][2] == len(load_shapes())
    return cfg, pop, report


# ------------------------------------------------------------------ reading feeds back


def _parse_time(text: str, fmt: str) -> dt.date:
    fmt = fmt.replace("%-m", "%m").replace("%-d", "%d")
    return dt.datetime.strptime(text, fmt).date()


def read_feed_file(shape: FeedShape, path: Path) -> Iterator[dict[str, Any]]:
    """Rows of one file as {column name: value}, read with the shape's own declarations."""
    if shape.format == "csv":
        enc = "utf-8-sig" if shape.encoding == "utf-8-sig" else shape.encoding
        with path.open(encoding=enc, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            assert header == [c.name for c in shape.columns], path
            for row in reader:
                yield {k: (v or None) for k, v in zip(header, row, strict=True)}
    elif shape.format == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                obj = json.loads(line)
                assert list(obj) == [c.name for c in shape.columns], path
                yield obj
    else:
        wb = openpyxl.load_workbook(path, read_only=True)
        ws = wb[shape.sheet]
        rows = ws.iter_rows(values_only=True)
        header = list(next(rows))
        assert header == [c.name for c in shape.columns], path
        for row in rows:
            yield dict(zip(header, row, strict=True))
        wb.close()


def canonical(shape: FeedShape, row: dict[str, Any]) -> dict[str, Any]:
    """A row mapped to the canonical fields (what the ingestion's source definition does)."""
    out: dict[str, Any] = {}
    for col in shape.columns:
        if not col.field:
            continue
        v = row.get(col.name)
        if col.field == "event_time" and v is not None:
            v = v.date() if isinstance(v, dt.datetime) else _parse_time(str(v), str(col.format))
        if col.field == "evidence_type" and v is not None:
            v = shape.types.get(v, f"?{v}")
        out[col.field] = v
    if shape.fixed_type:
        out["evidence_type"] = shape.fixed_type
    return out


@pytest.fixture(scope="module")
def records(city: tuple[SynthConfig, Population, FeedReport]) -> list[dict[str, Any]]:
    cfg, _, _ = city
    shapes = {s.source: s for s in load_shapes()}
    out: list[dict[str, Any]] = []
    with (cfg.out / "feeds" / "manifest.csv").open(encoding="utf-8") as fh:
        for m in csv.DictReader(fh):
            shape = shapes[m["source"]]
            path = cfg.out / "feeds" / m["file"]
            first = 1 if shape.format == "jsonl" else 2  # CSV and XLSX: row 1 is the header
            for line, row in enumerate(read_feed_file(shape, path), start=first):
                rec = canonical(shape, row)
                rec.update(source=shape.source, file=m["file"], line=line)
                out.append(rec)
    return out


def _truth(cfg: SynthConfig, name: str) -> list[dict[str, str]]:
    with (cfg.out / "truth" / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ tests


def test_every_department_sends_files_and_manifest_matches(
    city: tuple[SynthConfig, Population, FeedReport], catalog: Any
) -> None:
    cfg, _, report = city
    with (cfg.out / "feeds" / "manifest.csv").open(encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh))
    assert {m["department"] for m in manifest} == set(catalog.departments)
    listed = {m["file"] for m in manifest}
    on_disk = {
        str(p.relative_to(cfg.out / "feeds"))
        for p in (cfg.out / "feeds").rglob("*")
        if p.is_file() and p.name != "manifest.csv"
    }
    assert listed == on_disk
    assert sum(int(m["records"]) for m in manifest) == report.records
    assert len(manifest) == report.files
    for m in manifest[:: max(1, len(manifest) // 60)]:
        shape = next(s for s in load_shapes() if s.source == m["source"])
        rows = list(read_feed_file(shape, cfg.out / "feeds" / m["file"]))
        assert len(rows) == int(m["records"])
        assert (m["format"], m["encoding"]) == (shape.format, shape.encoding)


def test_formats_and_encodings_are_varied(city: tuple[SynthConfig, Population, FeedReport]) -> None:
    cfg, _, _ = city
    shapes = load_shapes()
    assert {s.format for s in shapes} == {"csv", "xlsx", "jsonl"}
    assert {s.encoding for s in shapes} == {"utf-8", "utf-8-sig", "gbk"}
    gbk = [s for s in shapes if s.encoding == "gbk"]
    assert len(gbk) >= 2
    for s in gbk:  # really GBK: not valid UTF-8 once a Chinese header is in it
        path = next((cfg.out / "feeds").glob(s.file.split("/")[0] + "/*"))
        raw = path.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        raw.decode("gbk")
    bom = next(s for s in shapes if s.encoding == "utf-8-sig")
    path = next((cfg.out / "feeds").glob(bom.file.split("/")[0] + "/*.csv"))
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_volume_and_coverage_are_calibrated(
    city: tuple[SynthConfig, Population, FeedReport],
) -> None:
    _, _, report = city
    assert 0.9 * 25.7 < report.records / RECIPIENTS < 1.1 * 25.7
    assert set(report.coverage) == {"last 12 months", "middle 12 months"}
    for share in report.coverage.values():
        assert 0.74 < share < 0.86
    assert report.records_by_source["yibao_settle"] == max(report.records_by_source.values())


def test_coverage_recomputed_from_the_files(
    city: tuple[SynthConfig, Population, FeedReport], records: list[dict[str, Any]], catalog: Any
) -> None:
    cfg, pop, report = city
    strong = {c for c, e in catalog.evidence_types.items()
              if e.strength == "strong" and e.establishes == "alive"}  # fmt: skip
    lo = cfg.window_end - dt.timedelta(days=364)
    seen = {
        r["id_number"]
        for r in records
        if r["evidence_type"] in strong
        and r["id_number"]
        and r["event_time"]
        and lo <= r["event_time"] <= AS_OF
    }
    ids = pop.id_number.to_pylist()
    end = np.datetime64(cfg.window_end)
    gone = [pop.death_date, pop.imprisoned_on, pop.emigrated_on]
    living = [
        i for i in range(pop.n)
        if pop.is_recipient[i] and all(np.isnat(d[i]) or d[i] > end for d in gone)
        and pop.birth_date[i] <= np.datetime64(lo)
    ]  # fmt: skip
    share = sum(ids[i] in seen for i in living) / len(living)
    assert share == pytest.approx(report.coverage["last 12 months"], abs=0.01)


def _people(pop: Population) -> dict[str, int]:
    return {v: i for i, v in enumerate(pop.id_number.to_pylist())}


def test_no_alive_record_after_death_and_maoling_weak_only(
    city: tuple[SynthConfig, Population, FeedReport], records: list[dict[str, Any]], catalog: Any
) -> None:
    _, pop, _ = city
    index = _people(pop)
    ets = catalog.evidence_types
    weak_after_death_maoling = 0
    for r in records:
        i = index.get(r["id_number"] or "")
        if i is None or r["event_time"] is None or r["event_time"] > AS_OF:
            continue
        if r["evidence_type"] is None:
            continue
        et = ets[r["evidence_type"]]
        died = pop.death_date[i]
        if np.isnat(died) or np.datetime64(r["event_time"]) < died:
            continue
        if et.establishes == "alive":
            assert et.strength == "weak" and pop.maoling[i], (r, et.code)
            weak_after_death_maoling += 1
        else:
            assert et.establishes == "deceased" and pop.death_recorded[i], r
    assert pop.maoling.sum() > 0
    assert weak_after_death_maoling > 0


def test_death_records_only_for_recorded_deaths_mostly_late(
    city: tuple[SynthConfig, Population, FeedReport], records: list[dict[str, Any]], catalog: Any
) -> None:
    cfg, pop, report = city
    index = _people(pop)
    deceased = {c for c, e in catalog.evidence_types.items() if e.establishes == "deceased"}
    death_rows = [r for r in records if r["evidence_type"] in deceased]
    assert death_rows
    for r in death_rows:
        i = index[r["id_number"]]
        assert not np.isnat(pop.death_date[i]) and pop.death_recorded[i]
        assert not pop.maoling[i]
    truth = _truth(cfg, "death_records.csv")
    assert len(truth) == len(death_rows) == report.death_records
    lags = [int(t["lag_days"]) for t in truth]
    assert min(lags) >= 0
    assert sum(lag > 0 for lag in lags) / len(lags) > 0.8
    assert np.median(lags) >= 3
    assert {t["department"] for t in truth} == {"funeral_home", "public_security", "health", "hrss"}
    # a recorded death within the window is recorded by at least one department (unless late)
    recorded = {t["id_number"] for t in truth}
    end = np.datetime64(cfg.window_end) - 90
    ids = pop.id_number.to_pylist()
    early = [
        ids[i] for i in range(pop.n)
        if not np.isnat(pop.death_date[i]) and pop.death_date[i] < end and pop.death_recorded[i]
        and not pop.maoling[i]
    ]  # fmt: skip
    assert early and sum(x in recorded for x in early) / len(early) > 0.97
    # the truth rows point at the records
    by_place = {(r["file"], r["line"]): r for r in death_rows}
    for t in truth:
        assert by_place[(t["file"], int(t["line"]))]["id_number"] == t["id_number"]


def test_status_records_for_prison_and_emigration(
    city: tuple[SynthConfig, Population, FeedReport],
) -> None:
    cfg, pop, _ = city
    status = _truth(cfg, "status_records.csv")
    kinds = Counter(s["status"] for s in status)
    if (~np.isnat(pop.imprisoned_on)).any():
        assert kinds["imprisoned"] > 0
    if (~np.isnat(pop.emigrated_on)).any():
        assert kinds["emigrated"] > 0


def test_dirt_is_planted_and_listed(
    city: tuple[SynthConfig, Population, FeedReport], records: list[dict[str, Any]]
) -> None:
    cfg, pop, report = city
    dirt = _truth(cfg, "dirt.csv")
    assert len(dirt) == sum(report.dirt.values())
    share = len(dirt) / report.records
    assert 0.6 * DIRT_RATE < share < 1.4 * DIRT_RATE
    assert set(report.dirt) == {
        "bad_check_character", "wrong_length", "letters_in_id", "old_15_digit", "lowercase_x",
        "duplicate", "missing_field", "future_date", "unknown_person",
    }  # fmt: skip
    at = {(r["file"], r["line"]): r for r in records}
    known = _people(pop)
    ids_seen = Counter((r["source"], r["record_id"]) for r in records)
    for d in dirt:
        r = at[(d["file"], int(d["line"]))]
        kind, idn = d["kind"], r["id_number"]
        if kind in ("bad_check_character", "wrong_length", "letters_in_id"):
            assert try_normalize_id_number(idn, today=AS_OF)[1] is not None, d
        elif kind == "old_15_digit":
            assert len(idn) == 15 and try_normalize_id_number(idn, today=AS_OF)[0] in known
        elif kind == "lowercase_x":
            assert idn.endswith("x") and idn.upper() in known
        elif kind == "unknown_person":
            assert try_normalize_id_number(idn, today=AS_OF)[0] and idn not in known
        elif kind == "future_date":
            assert r["event_time"] > AS_OF
        elif kind == "missing_field":
            assert any(v is None for k, v in r.items() if k not in ("place", "birth_date", "phone"))
        elif kind == "duplicate":
            assert ids_seen[(r["source"], r["record_id"])] == 2
            assert r["record_id"] == d["record_id"]
    # clean records: valid IDs of known people, dates inside the window
    flagged = {(d["file"], int(d["line"])) for d in dirt}
    for r in records[::7]:
        if (r["file"], r["line"]) in flagged:
            continue
        assert r["id_number"] in known
        assert cfg.window_start <= r["event_time"] <= AS_OF


def test_same_seed_same_bytes_whatever_the_workers(
    tmp_path: Path, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifesign.synth.feeds import core

    monkeypatch.setattr(core, "SLICE_RECORDS", 1500)  # big feeds cut into month slices
    digests = []
    for workers in (1, 2):
        cfg = SynthConfig(recipients=300, seed=5, out=tmp_path / f"w{workers}", workers=workers)
        pop = generate_population(cfg, catalog)
        write_feeds(pop, catalog, cfg)
        h = hashlib.sha256()
        for p in sorted(cfg.out.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(cfg.out)).encode())
                h.update(p.read_bytes())
        digests.append(h.hexdigest())
        # record ids stay unique within a feed across slices (re-sent duplicates aside)
        path = cfg.out / "feeds" / "yibao"
        ids = [
            line.split(b",")[0]
            for f in sorted(path.iterdir())
            for line in f.read_bytes().splitlines()[1:]
        ]
        dirt = _truth(cfg, "dirt.csv")
        dups = sum(1 for d in dirt if d["kind"] == "duplicate" and d["source"] == "yibao_settle")
        assert len(ids) - len(set(ids)) == dups
    assert digests[0] == digests[1]


def test_date_formats_match_strftime() -> None:
    days = np.array([0, 20000, 20454, 20758, -3650], np.int64)
    secs = np.array([0, 3661, 86399, 45296, 7], np.int32)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y%m%d", "%Y/%-m/%-d", "%Y年%-m月%-d日",
                "%Y-%m-%dT%H:%M:%S+08:00", "%Y%m%d%H%M%S"):  # fmt: skip
        got = date_strings(fmt, days, secs, None).to_pylist()
        for d, s, g in zip(days.tolist(), secs.tolist(), got, strict=True):
            when = dt.datetime(1970, 1, 1) + dt.timedelta(days=d, seconds=s)
            date_part = format_day(when.date(), fmt.split("%H")[0])
            assert g == date_part + (
                when.strftime("%H" + fmt.split("%H")[1]) if "%H" in fmt else ""
            )
    nulls = date_strings("%Y%m%d", days, None, np.array([0, 1, 0, 0, 0], bool))
    assert nulls.null_count == 1 and isinstance(nulls, pa.Array)
