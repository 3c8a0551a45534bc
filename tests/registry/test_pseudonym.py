"""Pseudonyms: keyed, stable per installation, secret kept private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lifesign.errors import ConfigurationError
from lifesign.registry.pseudonym import SECRET_FILE, Pseudonymizer, load_or_create_secret

NUMBER = "11010519491231002X"


def test_secret_is_created_once_with_private_modes(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    first = load_or_create_secret(secrets_dir)
    second = load_or_create_secret(secrets_dir)
    assert first == second and len(first) >= 16
    assert stat.S_IMODE((secrets_dir / SECRET_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700


def test_pseudonyms_keep_128_bits_and_are_stable(tmp_path: Path) -> None:
    pseudonymizer = Pseudonymizer.for_home(tmp_path / "secrets")
    value = pseudonymizer.pseudonym(NUMBER)
    assert len(value) == 32 and int(value, 16) >= 0
    assert Pseudonymizer.for_home(tmp_path / "secrets").pseudonym(NUMBER) == value
    assert pseudonymizer.pseudonym("11010519491231003" + "8") != value


def test_another_installation_gets_other_pseudonyms(tmp_path: Path) -> None:
    one = Pseudonymizer.for_home(tmp_path / "a").pseudonym(NUMBER)
    other = Pseudonymizer.for_home(tmp_path / "b").pseudonym(NUMBER)
    assert one != other


def test_a_world_readable_secret_is_refused(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    load_or_create_secret(secrets_dir)
    (secrets_dir / SECRET_FILE).chmod(0o644)
    with pytest.raises(ConfigurationError) as caught:
        load_or_create_secret(secrets_dir)
    assert SECRET_FILE in str(caught.value) and "600" in str(caught.value)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        Pseudonymizer(b"short")
