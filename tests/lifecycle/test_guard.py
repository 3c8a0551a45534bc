"""The guard's judgement of sources and its hold rules (figures from data/guard.yaml)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lifesign.lifecycle.guard import GuardFindings, SpikeCheck, hold_reason, judge_source
from lifesign.lifecycle.parameters import ParameterError, load_guard_parameters

PARAMETERS = load_guard_parameters()
START = dt.date(2025, 1, 1)


def daily(days: int, records: int = 100, strong: int = 80) -> dict[dt.date, tuple[int, int]]:
    return {START + dt.timedelta(days=i): (records, strong) for i in range(days)}


def test_a_daily_feed_is_stale_after_four_silent_days() -> None:
    days = daily(30)
    last = START + dt.timedelta(days=29)
    assert judge_source("yibao", days, last + dt.timedelta(days=4), PARAMETERS, 0.5).state == "ok"
    stale = judge_source("yibao", days, last + dt.timedelta(days=5), PARAMETERS, 0.5)
    assert stale.state == "stale" and stale.days_silent == 5
    assert stale.describe().startswith("yibao silent for 5 days")


def test_a_daily_feed_that_skips_days_is_judged_by_its_usual_gaps() -> None:
    # a small city's railway file: only on days someone travelled, every 1 to 3 days
    gaps = [1, 3, 2, 1, 3, 1, 2, 3, 1, 2, 3, 1]
    days: dict[dt.date, tuple[int, int]] = {}
    day = START
    for gap in gaps:
        days[day] = (5, 5)
        day += dt.timedelta(days=gap)
    last = max(days)
    assert judge_source("tielu", days, last + dt.timedelta(days=7), PARAMETERS, 0.05).state == "ok"
    assert judge_source("tielu", days, last + dt.timedelta(days=9), PARAMETERS, 0.05).state == (
        "stale"
    )


def test_a_monthly_feed_is_late_not_stale_after_one_missed_file() -> None:
    days = {dt.date(2024, month, 5): (1000, 900) for month in range(1, 9)}
    last = dt.date(2024, 8, 5)
    assert judge_source("minzheng", days, last + dt.timedelta(days=40), PARAMETERS, 0.2).state == (
        "ok"
    )
    assert judge_source("minzheng", days, last + dt.timedelta(days=70), PARAMETERS, 0.2).state == (
        "stale"
    )


def test_a_collapsed_day_is_reported_and_a_small_source_is_not_judged() -> None:
    days = daily(20)
    last = START + dt.timedelta(days=19)
    days[last] = (12, 10)
    collapsed = judge_source("yibao", days, last, PARAMETERS, 0.4)
    assert collapsed.state == "collapsed" and collapsed.median_records == 100
    small = daily(20, records=10)
    small[last] = (1, 1)
    assert judge_source("tiny", small, last, PARAMETERS, 0.01).state == "ok"


def test_a_new_source_is_learning_until_it_has_arrived_enough_times() -> None:
    days = daily(3)
    health = judge_source("new", days, START + dt.timedelta(days=30), PARAMETERS, 0.9)
    assert health.state == "learning" and not health.is_problem


def _findings(*, stale_share: float, spike: bool = False) -> GuardFindings:
    stale = judge_source("yibao", daily(30), START + dt.timedelta(days=40), PARAMETERS, stale_share)
    ok = judge_source("tielu", daily(30), START + dt.timedelta(days=30), PARAMETERS, 0.3)
    findings = GuardFindings(as_of=START + dt.timedelta(days=40), sources=[stale, ok])
    findings.spike = SpikeCheck(200 if spike else 3, 3.0, "median_of_runs", 50.0, spike)
    return findings


def test_a_stale_small_source_holds_only_the_people_it_certified() -> None:
    findings = _findings(stale_share=0.05)
    held = hold_reason(findings, PARAMETERS, "yibao")
    assert held is not None and held[0] == "stale_source_person"
    assert "yibao silent for" in held[1]
    assert hold_reason(findings, PARAMETERS, "tielu") is None
    assert hold_reason(findings, PARAMETERS, None) is None  # last certified at a counter


def test_a_stale_major_source_holds_everyone() -> None:
    findings = _findings(stale_share=0.4)
    for source in ("yibao", "tielu", None):
        held = hold_reason(findings, PARAMETERS, source)
        assert held is not None and held[0] == "stale_major_source"
    assert any("all suspensions held" in w for w in findings.warnings(PARAMETERS))


def test_a_spike_holds_everyone_for_an_officer() -> None:
    findings = _findings(stale_share=0.05, spike=True)
    held = hold_reason(findings, PARAMETERS, "tielu")
    assert held is not None and held[0] == "suspension_spike"


def test_a_wrong_parameter_file_says_what_and_where(tmp_path: Path) -> None:
    path = tmp_path / "guard.yaml"
    text = (Path(__file__).parents[2] / "lifesign/lifecycle/data/guard.yaml").read_text("utf-8")
    path.write_text(text.replace("spike_floor: 50", "spike_floor: many"), "utf-8")
    with pytest.raises(ParameterError) as caught:
        load_guard_parameters(path)
    assert "spike_floor" in str(caught.value) and str(path) in str(caught.value)
    path.write_text(text + "\nstale_factr: 3\n", "utf-8")
    with pytest.raises(ParameterError, match="unknown parameter 'stale_factr'"):
        load_guard_parameters(path)
