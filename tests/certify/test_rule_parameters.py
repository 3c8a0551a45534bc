"""The pass's parameter file (certify/data/rules.yaml): loaded and checked, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lifesign.certify.rules import RULES_FILE, load_rule_parameters
from lifesign.errors import LifesignError


def _written(tmp_path: Path, change: dict[str, object]) -> Path:
    document = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    document["pass_engine"].update(change)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_the_packaged_file_gives_the_scan_its_perfect_hash_parameters() -> None:
    engine = load_rule_parameters().engine
    assert engine.perfect_hash_bits == 21
    assert engine.perfect_hash_records_per_person == 8


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("perfect_hash_bits", -1),
        ("perfect_hash_bits", "21"),
        ("perfect_hash_records_per_person", 0),
    ],
)
def test_a_bad_scan_parameter_is_refused_with_its_file_and_key(
    tmp_path: Path, key: str, value: object
) -> None:
    path = _written(tmp_path, {key: value})
    with pytest.raises(LifesignError) as raised:
        load_rule_parameters(path)
    assert raised.value.where.file == str(path)
    assert raised.value.where.key == key
    assert repr(value) in str(raised.value)


def test_a_missing_scan_parameter_is_refused(tmp_path: Path) -> None:
    document = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    del document["pass_engine"]["perfect_hash_records_per_person"]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(LifesignError) as raised:
        load_rule_parameters(path)
    assert raised.value.where.key == "pass_engine"
    assert "perfect_hash_records_per_person" in str(raised.value)
