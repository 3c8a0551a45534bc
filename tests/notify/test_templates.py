"""SMS templates: both languages load and render; every mistake in a file names file and key;
rendering needs every parameter and never carries a full ID number; long messages warn."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from lifesign.notify.config import SmsLimits
from lifesign.notify.templates import (
    PACKAGED_TEMPLATES,
    REASON_PARAMS,
    REASONS,
    TemplateError,
    load_templates,
)

ID_NUMBER = "34160219470315002X"


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_reason_renders_its_sample(lang: str) -> None:
    templates = load_templates(lang)
    assert set(templates.templates) == set(REASONS)
    for reason, template in templates.templates.items():
        rendered = templates.render(reason, template.sample)
        assert rendered.template == f"{lang}/{reason}"
        assert "{" not in rendered.body and "}" not in rendered.body
        assert set(REASON_PARAMS[reason]) <= set(rendered.params)


def test_chinese_messages_fit_and_read_naturally() -> None:
    templates = load_templates("zh-CN")
    limits = SmsLimits()
    for reason, template in templates.templates.items():
        body = templates.render(reason, template.sample).body
        assert limits.segments(body) <= 2, reason
        assert " " not in body, reason  # lines joined without spaces in Chinese
    terminated = templates.render("terminated", templates.templates["terminated"].sample).body
    assert "节哀" in terminated and terminated.startswith("张秀英家属")
    recovery = templates.render(
        "recovery_notice", {"name": "张秀英", "programs": ["高龄津贴"], "amount": Decimal("1450")}
    ).body
    assert "1,450.00元" in recovery and "30个工作日" in recovery and "分期" in recovery
    assert "12333" in recovery


def test_values_are_formatted_per_language() -> None:
    chinese, english = load_templates("zh-CN"), load_templates("en")
    assert chinese.format_value(dt.date(2026, 3, 5)) == "2026年3月5日"
    assert english.format_value(dt.date(2026, 3, 5)) == "2026-03-05"
    assert chinese.format_value(dt.datetime(2026, 3, 5, 9, 30)) == "2026年3月5日"
    assert chinese.format_value(["城乡居民基本养老保险待遇", "高龄津贴"]) == (
        "城乡居民基本养老保险待遇、高龄津贴"
    )
    assert english.format_value(("a", "b")) == "a, b"
    assert chinese.format_value(Decimal("300")) == "300.00"
    assert chinese.format_value(12.5) == "12.50"
    assert chinese.format_value(60) == "60"


def test_a_missing_parameter_names_it() -> None:
    templates = load_templates("zh-CN")
    with pytest.raises(TemplateError) as caught:
        templates.render("resumed", {"name": "张秀英", "programs": "高龄津贴"})
    message = str(caught.value)
    assert "missing parameter(s) resumed_from, back_pay_months, back_pay_amount" in message
    assert "zh-CN.yaml" in message and "key templates.resumed" in message


def test_a_full_id_number_never_goes_into_an_sms() -> None:
    templates = load_templates("zh-CN")
    params = {"name": ID_NUMBER, "valid_until": "2026年4月3日"}
    with pytest.raises(TemplateError, match="parameter name holds what looks like a full ID"):
        templates.render("visit_scheduled", params)
    old = "341602470315002"
    with pytest.raises(TemplateError, match="full ID number"):
        templates.render("visit_scheduled", {**params, "name": f"张秀英（{old}）"})
    masked = templates.render("visit_scheduled", {**params, "name": "3416**********002X"})
    assert "3416**********002X" in masked.body


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(PACKAGED_TEMPLATES, folder)
    return folder


def _edit(folder: Path, old: str, new: str, lang: str = "zh-CN") -> None:
    path = folder / f"{lang}.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_an_unknown_variable_is_an_error_naming_file_and_key(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(folder, "有效期至{valid_until}", "有效期至{valid_untill}")
    with pytest.raises(TemplateError) as caught:
        load_templates("zh-CN", folder)
    message = str(caught.value)
    assert "template uses unknown variable {valid_untill}" in message
    assert f"{folder / 'zh-CN.yaml'}" in message and "key templates.certified.body" in message
    assert "certified has name, evidence_date, evidence_name, valid_until" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  certified:\n", "  certify:\n", r"unknown reason 'certify'.*key templates\.certify\)"),
        ("{valid_until}，无需", "{valid_until!r}，无需", r"use plain \{name\} variables only"),
        ("{valid_until}，无需", "{valid_until，无需", "unbalanced braces"),
        ("有效期至", f"身份证{ID_NUMBER}有效期至", "holds what looks like a full ID number"),
        ("sample: {name: 张秀英, evidence_date", "sample: {evidence_date", "sample must give"),
        ('hotline: "12333"', 'name: "12333"', r"city constant\(s\) name clash"),
        ("lang: zh-CN", "lang: zh-TW", "the file says lang 'zh-TW'"),
    ],
)
def test_template_file_mistakes(tmp_path: Path, old: str, new: str, expected: str) -> None:
    folder = _copy(tmp_path)
    _edit(folder, old, new)
    with pytest.raises(TemplateError, match=expected):
        load_templates("zh-CN", folder)


def test_a_missing_reason_and_a_missing_language(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "en.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("  recovery_notice:")], encoding="utf-8")
    with pytest.raises(TemplateError, match="no template for reason 'recovery_notice'"):
        load_templates("en", folder)
    with pytest.raises(
        TemplateError, match=r"no SMS templates for language 'fr': languages: en, zh-CN"
    ):
        load_templates("fr", folder)


def test_long_messages_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _copy(tmp_path)
    _edit(folder, "无需另行办理。", "无需另行办理。" + "请知悉。" * 60)
    templates = load_templates("zh-CN", folder, SmsLimits(max_segments=2))
    assert len(templates.warnings) == 1
    assert "templates.certified" in templates.warnings[0]
    assert "SMS segments (more than 2)" in templates.warnings[0]
    assert templates.warnings[0] in caplog.text


def test_segments() -> None:
    limits = SmsLimits()
    assert limits.segments("好" * 70) == 1
    assert limits.segments("好" * 71) == 2
    assert limits.segments("好" * 134) == 2
    assert limits.segments("好" * 135) == 3
    assert limits.segments("a" * 160) == 1
    assert limits.segments("a" * 161) == 2
    # GSM 7-bit covers £ ¥ é: still 160 a segment; an extension character counts twice
    assert limits.segments("é" * 159 + "£") == 1
    assert limits.segments("€" * 80) == 1
    assert limits.segments("€" * 81) == 2
    # one character outside the GSM alphabet (a Chinese full stop) makes the whole text UCS-2
    assert limits.segments("a" * 70 + "。") == 2
