"""Each catalog error: break one thing in a copy of the packaged catalog, find it reported
with its file, key path and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifesign.catalog import CatalogError, load_catalog

from .helpers import edit, only, problems_of

EV = "evidence_types.yaml"
PR = "programs.yaml"


def test_the_copy_is_valid(city: Path) -> None:
    assert len(load_catalog(city).programs) == 22


def test_unknown_department_on_evidence_type(city: Path) -> None:
    edit(
        city / EV,
        "{code: mi_inpatient, department: medical_insurance,",
        "{code: mi_inpatient, department: medical_insurnce,",
    )
    problem = only(problems_of(city), "evidence_types.mi_inpatient.department")
    assert problem.file == EV
    assert problem.problem == "unknown department 'medical_insurnce'"
    assert problem.line is not None and problem.line > 10


def test_agency_cannot_supply_evidence(city: Path) -> None:
    edit(
        city / EV,
        "{code: court_appearance, department: court,",
        "{code: court_appearance, department: organisation_dept,",
    )
    problem = only(problems_of(city), "evidence_types.court_appearance.department")
    assert "agency that supplies no data" in problem.problem


def test_strength_neither_strong_nor_weak(city: Path) -> None:
    edit(city / EV, "department: power, strength: weak,", "department: power, strength: medium,")
    problem = only(problems_of(city), "evidence_types.power_use.strength")
    assert problem.file == EV
    assert problem.problem == "strength 'medium' is not one of: strong, weak"


def test_unknown_establishes_status(city: Path) -> None:
    edit(
        city / EV,
        "department: railway, strength: strong, establishes: alive",
        "department: railway, strength: strong, establishes: living",
    )
    problem = only(problems_of(city), "evidence_types.rail_boarding.establishes")
    assert (
        problem.problem
        == "status 'living' is not one of: alive, deceased, imprisoned, emigrated, moved_away"
    )


def test_duplicate_evidence_code(city: Path) -> None:
    edit(city / EV, "{code: cable_tv_payment,", "{code: telecom_activity,")
    problem = only(problems_of(city), "evidence_types[45].code")
    assert problem.file == EV
    assert problem.problem == (
        "duplicate code 'telecom_activity' (first used at evidence_types.telecom_activity)"
    )


def test_duplicate_department_code_across_agencies(city: Path) -> None:
    edit(city / "departments.yaml", "{code: organisation_dept,", "{code: hrss,")
    problem = only(problems_of(city), "agencies[0].code")
    assert problem.file == "departments.yaml"
    assert "duplicate code 'hrss'" in problem.problem


def test_unknown_owner(city: Path) -> None:
    edit(city / PR, "owner: civil_affairs", "owner: civil_afairs", within="  - code: dibao\n")
    problem = only(problems_of(city), "programs.dibao.owner")
    assert problem.file == PR
    assert problem.problem == "unknown owner 'civil_afairs': not a department or agency"


def test_unknown_co_owner(city: Path) -> None:
    edit(
        city / PR,
        "co_owners: [civil_affairs]",
        "co_owners: [civil]",
        within="  - code: disability_care\n",
    )
    problem = only(problems_of(city), "programs.disability_care.co_owners[0]")
    assert "unknown co-owner 'civil'" in problem.problem


def test_duplicate_program_code(city: Path) -> None:
    edit(city / PR, "  - code: tekun\n", "  - code: dibao\n")
    problems = problems_of(city)
    problem = only(problems, "programs[8].code")
    assert problem.problem == "duplicate code 'dibao' (first used at programs.dibao)"


def test_excluding_an_unknown_program(city: Path) -> None:
    edit(city / PR, "excludes: [tekun]", "excludes: [tekun, tekunn]", within="  - code: dibao\n")
    problem = only(problems_of(city), "programs.dibao.excludes[1]")
    assert problem.file == PR
    assert problem.problem == "excludes unknown program 'tekunn'"


def test_exclusion_must_be_symmetric(city: Path) -> None:
    edit(city / PR, "    excludes: [dibao]\n", "", within="  - code: tekun\n")
    problems = problems_of(city)
    problem = only(problems, "programs.dibao.excludes[0]")
    assert problem.problem == (
        "exclusion is not symmetric: 'dibao' excludes 'tekun' but "
        "programs.tekun.excludes does not list 'dibao'"
    )
    assert len(problems) == 1


def test_program_excluding_itself(city: Path) -> None:
    edit(city / PR, "excludes: [tekun]", "excludes: [tekun, dibao]", within="  - code: dibao\n")
    problem = only(problems_of(city), "programs.dibao.excludes[1]")
    assert problem.problem == "program 'dibao' excludes itself"


def test_overlapping_amount_dates(city: Path) -> None:
    edit(
        city / PR,
        "effective_until: 2024-12-31, amount: 680",
        "effective_until: 2025-03-31, amount: 680",
        within="  - code: dibao\n",
    )
    problem = only(problems_of(city), "programs.dibao.amounts[1]")
    assert problem.file == PR
    assert problem.problem == (
        "amount dates overlap: from 2025-01-01 overlaps programs.dibao.amounts[0] "
        "(from 2024-01-01, until 2025-03-31)"
    )


def test_overlap_is_per_age_tier(city: Path) -> None:
    # Tiers 80 and 90 overlap in time by design; a second open-ended 90+ rule does not.
    edit(
        city / PR,
        "      - {effective_from: 2024-01-01, amount: 100, min_age: 90,\n",
        "      - {effective_from: 2025-01-01, amount: 120, min_age: 90, source: x}\n"
        "      - {effective_from: 2024-01-01, amount: 100, min_age: 90,\n",
    )
    problem = only(problems_of(city), "programs.longevity_allowance.amounts[1]")
    assert problem.problem == (
        "amount dates overlap (age tier 90+): from 2025-01-01 overlaps "
        "programs.longevity_allowance.amounts[2] (from 2024-01-01, open-ended)"
    )


def test_amount_until_before_from(city: Path) -> None:
    edit(
        city / PR,
        "effective_until: 2024-12-31, amount: 680",
        "effective_until: 2023-12-31, amount: 680",
        within="  - code: dibao\n",
    )
    problem = only(problems_of(city), "programs.dibao.amounts[0].effective_until")
    assert problem.problem == "effective_until 2023-12-31 is before effective_from 2024-01-01"


@pytest.mark.parametrize("amount", ["-700", "0"])
def test_amount_must_be_positive(city: Path, amount: str) -> None:
    edit(city / PR, "amount: 700,", f"amount: {amount},", within="  - code: dibao\n")
    problem = only(problems_of(city), "programs.dibao.amounts[1].amount")
    assert problem.problem == f"amount must be greater than 0, got {amount}"


def test_missing_required_field(city: Path) -> None:
    edit(city / PR, "    name_en: Minimum living allowance (dibao)\n", "")
    problem = only(problems_of(city), "programs.dibao.name_en")
    assert problem.file == PR
    assert problem.problem == "missing required field 'name_en'"


def test_missing_amounts(city: Path) -> None:
    text = (city / PR).read_text(encoding="utf-8")
    start = text.index("    amounts:", text.index("  - code: poverty_monitoring\n"))
    end = text.index("\n  - code: old_party_member")
    (city / PR).write_text(text[:start] + text[end + 1 :], encoding="utf-8")
    problem = only(problems_of(city), "programs.poverty_monitoring.amounts")
    assert problem.problem == "missing required field 'amounts'"


def test_unknown_extra_field(city: Path) -> None:
    edit(
        city / PR,
        "    owner: civil_affairs\n",
        "    owner: civil_affairs\n    ownr: hrss\n",
        within="  - code: dibao\n",
    )
    problem = only(problems_of(city), "programs.dibao.ownr")
    assert problem.file == PR
    assert problem.problem.startswith("unknown field 'ownr' (allowed: code, name_zh")
    text = (city / PR).read_text(encoding="utf-8")
    assert problem.line == text[: text.index("    ownr:")].count("\n") + 1


def test_min_age_above_max_age(city: Path) -> None:
    edit(
        city / PR,
        "    max_age: 17\n",
        "    min_age: 20\n    max_age: 17\n",
        within="  - code: orphan\n",
    )
    problem = only(problems_of(city), "programs.orphan.max_age")
    assert problem.problem == "min_age 20 is greater than max_age 17"


def test_reminder_with_unknown_action(city: Path) -> None:
    edit(
        city / PR,
        "{days_before_expiry: 15, action: visit_task}",
        "{days_before_expiry: 15, action: phone_call}",
    )
    problem = only(problems_of(city), "defaults.reminders[2].action")
    assert problem.file == PR
    assert problem.problem == "reminder action 'phone_call' is not one of: sms, visit_task"


def test_reminder_days_must_be_positive(city: Path) -> None:
    edit(
        city / PR,
        "{days_before_expiry: 15, action: visit_task}",
        "{days_before_expiry: 0, action: visit_task}",
    )
    problem = only(problems_of(city), "defaults.reminders[2].days_before_expiry")
    assert problem.problem == "must be greater than 0, got 0"


def test_program_overrides_reminders_and_status(city: Path) -> None:
    edit(
        city / PR,
        "    excludes: [tekun]\n",
        "    excludes: [tekun]\n    certification_period_months: 6\n"
        "    reminders: [{days_before_expiry: 20, action: sms}]\n"
        "    on_status: {moved_away: terminate}\n",
        within="  - code: dibao\n",
    )
    dibao = load_catalog(city).programs["dibao"]
    assert dibao.certification_period_months == 6
    assert [(r.days_before_expiry, r.action) for r in dibao.reminders] == [(20, "sms")]
    assert dibao.on_status == {
        "imprisoned": "suspend",
        "emigrated": "terminate",
        "moved_away": "terminate",
    }


def test_unknown_status_and_action_in_on_status(city: Path) -> None:
    edit(city / PR, "    moved_away: suspend\n", "    moved_away: pause\n    retired: suspend\n")
    problems = problems_of(city)
    assert only(problems, "defaults.on_status.moved_away").problem == (
        "action 'pause' is not one of: terminate, suspend"
    )
    assert only(problems, "defaults.on_status.retired").problem.startswith(
        "unknown status 'retired'"
    )


def test_region_with_unknown_parent(city: Path) -> None:
    edit(
        city / "regions.yaml",
        'level: grid, parent: "341602001001"}\n  - {code: "341602001001002"',
        'level: grid, parent: "341602001999"}\n  - {code: "341602001001002"',
    )
    problems = problems_of(city)
    problem = only(problems, "regions.341602001001001.parent")
    assert problem.file == "regions.yaml"
    assert problem.problem == "unknown parent region '341602001999'"


def test_region_parent_at_wrong_level(city: Path) -> None:
    edit(
        city / "regions.yaml",
        '{code: "341602001001001", name_zh: 第1网格, level: grid, parent: "341602001001"}',
        '{code: "341602001001001", name_zh: 第1网格, level: grid, parent: "341602001"}',
    )
    problems = problems_of(city)
    problem = only(problems, "regions.341602001001001.parent")
    assert problem.problem == "parent '341602001' is a township; a grid's parent must be a village"
    assert len(problems) == 1


def test_region_code_not_prefixed_by_parent(city: Path) -> None:
    edit(
        city / "regions.yaml",
        'level: village, parent: "341602001", urban: true}\n  - {code: "341602001001001"',
        'level: village, parent: "341602002", urban: true}\n  - {code: "341602001001001"',
    )
    problems = problems_of(city)
    problem = only(problems, "regions.341602001001.code")
    assert (
        problem.problem == "code '341602001001' does not start with its parent's code '341602002'"
    )
    assert len(problems) == 1


def test_duplicate_region_code(city: Path) -> None:
    edit(
        city / "regions.yaml",
        '{code: "341602001001002", name_zh: 第2网格',
        '{code: "341602001001001", name_zh: 第2网格',
    )
    problem = next(p for p in problems_of(city) if "duplicate code" in p.problem)
    assert problem.problem == (
        "duplicate code '341602001001001' (first at regions.341602001001001)"
    )


def test_yaml_syntax_error_has_its_line(city: Path) -> None:
    edit(
        city / "departments.yaml",
        "  - {code: court, name_zh: 法院, name_en: Courts}\n",
        "  - {code: court, name_zh: [法院, name_en: Courts}\n",
    )
    problem = only(problems_of(city), "")
    assert problem.file == "departments.yaml"
    assert problem.problem.startswith("YAML syntax error")
    text = (city / "departments.yaml").read_text(encoding="utf-8")
    line = text[: text.index("{code: court,")].count("\n") + 1
    assert problem.line is not None and line <= problem.line <= line + 1


def test_missing_file(city: Path) -> None:
    (city / PR).unlink()
    problems = problems_of(city)
    assert len(problems) == 1
    assert problems[0].file == PR
    assert problems[0].problem.startswith("file not found:")


def test_missing_folder(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "nowhere")
    assert problems[0].problem.startswith("catalog folder not found")


def test_version_missing(city: Path) -> None:
    edit(city / "catalog.yaml", 'version: "2026.1"\n', "")
    problem = only(problems_of(city), "version")
    assert problem.file == "catalog.yaml"
    assert problem.problem == "missing required field 'version'"


def test_every_problem_is_reported_at_once(city: Path) -> None:
    edit(city / EV, "department: power, strength: weak,", "department: power, strength: medium,")
    edit(city / PR, "owner: civil_affairs", "owner: nobody", within="  - code: tekun\n")
    edit(city / "catalog.yaml", 'version: "2026.1"\n', "")
    with pytest.raises(CatalogError) as raised:
        load_catalog(city)
    error = raised.value
    assert {p.key for p in error.problems} == {
        "version",
        "evidence_types.power_use.strength",
        "programs.tekun.owner",
    }
    assert error.where.key == error.problems[0].key
    assert error.where.file is not None and error.where.file.endswith(error.problems[0].file)
    assert "3 problems" in str(error)
    for problem in error.problems:
        assert str(problem) in str(error)


def test_counts_that_differ_are_warnings(city: Path) -> None:
    text = (city / EV).read_text(encoding="utf-8")
    start = text.index("  - {code: gsc_hotline_call")
    (city / EV).write_text(text[:start], encoding="utf-8")
    edit(
        city / "departments.yaml",
        "  - {code: funeral_home, name_zh: 殡仪馆, name_en: Funeral Homes}\n",
        "",
    )
    edit(city / EV, "department: funeral_home,", "department: health,")
    cat = load_catalog(city)
    assert len(cat.evidence_types) == 47
    assert [w.key for w in cat.warnings] == ["departments", "evidence_types"]
    assert cat.warnings[0].problem == "25 departments (Bozhou has 26)"
    assert cat.warnings[1].problem == (
        "39 strong and 8 weak evidence types (Bozhou has 39 strong and 9 weak)"
    )
