"""The packaged catalog: exact counts, fixed codes, amounts on dates, the region tree."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from lifesign.catalog import Catalog, CatalogError, load_catalog

DEPARTMENTS = [
    "hrss",
    "civil_affairs",
    "agriculture",
    "health",
    "medical_insurance",
    "public_security",
    "justice",
    "court",
    "veterans",
    "disabled_federation",
    "transport",
    "railway",
    "civil_aviation",
    "taxation",
    "provident_fund",
    "real_estate",
    "market_regulation",
    "culture_tourism",
    "bank",
    "post",
    "power",
    "water",
    "gas",
    "telecom",
    "gov_service_centre",
    "funeral_home",
]
STRONG_ALIVE = {
    "medical_insurance": "mi_inpatient mi_chronic_outpatient mi_pharmacy_face mi_outpatient",
    "health": "hc_elderly_checkup hc_family_doctor hc_chronic_followup",
    "public_security": "ps_id_card ps_household_business ps_hotel_checkin ps_driving_licence",
    "railway": "rail_boarding",
    "civil_aviation": "flight_boarding",
    "transport": "senior_bus_ride",
    "civil_affairs": "ca_nursing_home_check ca_home_care_checkin ca_dibao_home_check",
    "hrss": "hrss_card_counter hrss_app_face_login",
    "bank": "bank_counter bank_card_replacement",
    "post": "post_pension_counter",
    "taxation": "tax_in_person",
    "provident_fund": "hpf_withdrawal",
    "real_estate": "real_estate_registration",
    "market_regulation": "business_registration",
    "justice": "notarisation",
    "court": "court_appearance",
    "culture_tourism": "scenic_senior_entry",
    "veterans": "veteran_annual_visit",
    "disabled_federation": "disability_assessment",
    "gov_service_centre": "gsc_in_person",
    "agriculture": "ag_poverty_visit",
}
STRONG_OTHER = {
    "ps_household_cancellation": ("deceased", "public_security"),
    "funeral_cremation": ("deceased", "funeral_home"),
    "hc_death_certificate": ("deceased", "health"),
    "hrss_funeral_grant": ("deceased", "hrss"),
    "justice_prison_admission": ("imprisoned", "justice"),
    "ps_emigration_cancellation": ("emigrated", "public_security"),
}
WEAK = {
    "power_use": "power",
    "water_use": "water",
    "gas_use": "gas",
    "telecom_activity": "telecom",
    "bank_atm_withdrawal": "bank",
    "mi_pharmacy_swipe": "medical_insurance",
    "cable_tv_payment": "telecom",
    "community_signin": "civil_affairs",
    "gsc_hotline_call": "gov_service_centre",
}
PROGRAMS = [
    "resident_pension",
    "employee_pension",
    "civil_servant_pension",
    "work_injury",
    "survivor_benefit",
    "landless_farmer",
    "longevity_allowance",
    "dibao",
    "tekun",
    "disability_living",
    "disability_care",
    "orphan",
    "unsupported_child",
    "elderly_care_subsidy",
    "village_doctor",
    "family_planning_special",
    "family_planning_reward",
    "veteran_pension",
    "veteran_elderly",
    "village_cadre",
    "poverty_monitoring",
    "old_party_member",
]


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def test_header(cat: Catalog) -> None:
    assert cat.version == "2026.1"
    assert cat.effective_from == date(2026, 1, 1)
    assert cat.directory.name == "data"
    assert cat.warnings == ()


def test_departments_exactly(cat: Catalog) -> None:
    assert list(cat.departments) == DEPARTMENTS
    assert cat.departments["hrss"].name_zh == "人社局"
    assert cat.departments["funeral_home"].name_zh == "殡仪馆"
    assert list(cat.agencies) == ["organisation_dept"]
    assert cat.agencies["organisation_dept"].name_zh == "组织部"


def test_evidence_types_exactly(cat: Catalog) -> None:
    types = cat.evidence_types
    assert len(types) == 48
    assert len(cat.evidence_of("strong")) == 39
    assert len(cat.evidence_of("weak")) == 9
    alive = {e.code for e in cat.evidence_of("strong", "alive")}
    assert len(alive) == 33
    for dept, codes in STRONG_ALIVE.items():
        for code in codes.split():
            assert types[code].department == dept
            assert (types[code].strength, types[code].establishes) == ("strong", "alive")
    for code, (status, dept) in STRONG_OTHER.items():
        assert (types[code].strength, types[code].establishes) == ("strong", status)
        assert types[code].department == dept
    for code, dept in WEAK.items():
        assert (types[code].strength, types[code].establishes, types[code].department) == (
            "weak",
            "alive",
            dept,
        )
    assert all(e.name_zh and e.name_en for e in types.values())
    assert next(iter(types)) == "mi_inpatient"


def test_programs_exactly(cat: Catalog) -> None:
    assert list(cat.programs) == PROGRAMS
    owners = {code: (p.owner, p.co_owners) for code, p in cat.programs.items()}
    assert owners["resident_pension"] == ("hrss", ())
    assert owners["disability_care"] == ("disabled_federation", ("civil_affairs",))
    assert owners["village_cadre"] == ("organisation_dept", ())
    assert owners["old_party_member"] == ("organisation_dept", ())
    assert owners["poverty_monitoring"] == ("agriculture", ())
    assert owners["veteran_elderly"] == ("veterans", ())
    assert owners["village_doctor"] == ("health", ())
    ages = {code: (p.min_age, p.max_age) for code, p in cat.programs.items()}
    assert ages["resident_pension"] == (60, None)
    assert ages["longevity_allowance"] == (80, None)
    assert ages["orphan"] == (None, 17)
    assert ages["family_planning_special"] == (49, None)
    assert ages["old_party_member"] == (70, None)
    assert ages["dibao"] == (None, None)
    assert set(cat.programs["resident_pension"].excludes) == {
        "employee_pension",
        "civil_servant_pension",
    }
    assert cat.programs["dibao"].excludes == ("tekun",)
    assert cat.programs["orphan"].excludes == ("unsupported_child",)
    for program in cat.programs.values():
        assert program.certification_period_months == 12
        assert [(r.days_before_expiry, r.action) for r in program.reminders] == [
            (60, "sms"),
            (30, "sms"),
            (15, "visit_task"),
        ]
        assert program.on_status == {
            "imprisoned": "suspend",
            "emigrated": "terminate",
            "moved_away": "suspend",
        }
        assert all(rule.source for rule in program.amounts)
        for other in program.excludes:
            assert program.code in cat.programs[other].excludes
        assert program.eligibility_zh and program.eligibility_en


TABLE_AMOUNTS = {
    "resident_pension": 150,
    "employee_pension": 3000,
    "civil_servant_pension": 5000,
    "work_injury": 2500,
    "survivor_benefit": 1200,
    "landless_farmer": 300,
    "longevity_allowance": 50,
    "dibao": 700,
    "tekun": 950,
    "disability_living": 90,
    "disability_care": 90,
    "orphan": 1400,
    "unsupported_child": 1400,
    "elderly_care_subsidy": 100,
    "village_doctor": 400,
    "family_planning_special": 590,
    "family_planning_reward": 100,
    "veteran_pension": 1800,
    "veteran_elderly": 600,
    "village_cadre": 400,
    "poverty_monitoring": 200,
    "old_party_member": 200,
}


def test_current_amounts_are_the_domain_table(cat: Catalog) -> None:
    on = date(2026, 1, 1)
    assert {c: int(p.monthly_amount(on)) for c, p in cat.programs.items()} == TABLE_AMOUNTS
    assert sum(len(p.amounts) >= 2 for p in cat.programs.values()) >= 15


def test_amounts_by_date(cat: Catalog) -> None:
    pension = cat.programs["resident_pension"]
    assert pension.monthly_amount(date(2024, 1, 1)) == Decimal(130)
    assert pension.monthly_amount(date(2024, 12, 31)) == Decimal(130)
    assert pension.monthly_amount(date(2025, 1, 1)) == Decimal(150)
    employee = cat.programs["employee_pension"]
    assert employee.monthly_amount(date(2025, 6, 30)) == Decimal(2940)
    assert employee.monthly_amount(date(2025, 7, 1)) == Decimal(3000)
    assert employee.amount_rule(date(2025, 7, 1)).source.startswith("安徽省人社厅")


def test_amount_before_any_rule_is_an_error(cat: Catalog) -> None:
    with pytest.raises(CatalogError) as raised:
        cat.programs["dibao"].monthly_amount(date(2023, 12, 31))
    assert "no amount rule in force on 2023-12-31" in str(raised.value)
    assert raised.value.where.key == "programs.dibao.amounts"


def test_longevity_age_tiers(cat: Catalog) -> None:
    longevity = cat.programs["longevity_allowance"]
    on = date(2025, 3, 1)
    assert longevity.monthly_amount(on, 80) == 50
    assert longevity.monthly_amount(on, 89) == 50
    assert longevity.monthly_amount(on, 90) == 100
    assert longevity.monthly_amount(on, 99) == 100
    assert longevity.monthly_amount(on, 100) == 300
    assert longevity.monthly_amount(date(2024, 3, 1), 104) == 250
    assert longevity.monthly_amount(on) == 50  # no age: the lowest tier
    with pytest.raises(CatalogError, match="no amount for age 79"):
        longevity.monthly_amount(on, 79)
    assert longevity.age_allowed(80) and not longevity.age_allowed(79)


def test_region_tree(cat: Catalog) -> None:
    tree = cat.regions
    assert (tree.city_code, tree.city_name_zh) == ("3416", "亳州市")
    assert [(c.code, c.name_zh) for c in tree.counties] == [
        ("341602", "谯城区"),
        ("341621", "涡阳县"),
        ("341622", "蒙城县"),
        ("341623", "利辛县"),
    ]
    assert 80 <= len(tree.townships) <= 95
    assert 1200 <= len(tree.villages) <= 1450
    assert 2 * len(tree.villages) <= len(tree.grids) <= 4 * len(tree.villages)
    for county in tree.counties:
        assert 15 <= len(tree.children(county.code)) <= 28
    by_name = {t.name_zh: t for t in tree.children("341602")}
    assert by_name["花戏楼街道"].code == "341602001" and by_name["花戏楼街道"].urban
    assert by_name["古井镇"].code.startswith("3416021") and not by_name["古井镇"].urban
    for region in tree.by_code.values():
        assert (
            len(region.code)
            == {"county": 6, "township": 9, "village": 12, "grid": 15}[region.level]
        )
        if region.parent is not None:
            assert region.code.startswith(region.parent)
            parent = tree.by_code[region.parent]
            assert region.level != "grid" or region.urban == parent.urban
    for village in tree.villages:
        suffix = int(village.code[-3:])
        assert village.urban == (suffix < 200)
        assert village.name_zh.endswith("社区" if village.urban else "村")
        assert 2 <= len(tree.children(village.code)) <= 4
    grid = tree.grids[-1]
    assert tree.county_of(grid.code).code == "341623"
    assert [r.level for r in tree.ancestors(grid.code)] == [
        "grid",
        "village",
        "township",
        "county",
    ]
    assert tree.children(grid.code) == ()
    with pytest.raises(CatalogError, match="unknown region code"):
        tree.county_of("999")


def test_regions_file_is_what_the_generator_writes() -> None:
    from lifesign.catalog.loader import PACKAGED_DIR
    from lifesign.catalog.tools.make_regions import render

    assert (PACKAGED_DIR / "regions.yaml").read_text(encoding="utf-8") == render()


def test_values_are_frozen(cat: Catalog) -> None:
    with pytest.raises(AttributeError):
        cat.programs["dibao"].owner = "x"  # type: ignore[misc]
    assert hash(cat.programs["dibao"]) == hash(load_catalog().programs["dibao"])
