"""Unit tests for the key-encryption key settings: required and checked in production, generated in development."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from server.common.crypto import parse_kek
from server.settings import SettingsError, load_settings

KEK = base64.b64encode(b"k" * 32).decode()


def test_development_generates_one_kek_and_keeps_it(tmp_path: Path) -> None:
    """Without ALPR_KEK a development server generates a KEK once into the data dir and reuses it."""
    first = load_settings({}, data_dir=tmp_path).key_encryption_keys()
    again = load_settings({}, data_dir=tmp_path).key_encryption_keys()
    assert first == again and len(parse_kek(first[0])) == 32 and first[1] == []
    assert (tmp_path / "kek.key").stat().st_mode & 0o077 == 0


def test_configured_and_retired_keks(tmp_path: Path) -> None:
    """ALPR_KEK is the current KEK and ALPR_RETIRED_KEKS the old ones, in order."""
    old = base64.b64encode(b"o" * 32).decode()
    s = load_settings({"ALPR_KEK": KEK, "ALPR_RETIRED_KEKS": f"{old}, {KEK}"}, data_dir=tmp_path)
    assert s.key_encryption_keys() == (KEK, [old, KEK])
    assert not (tmp_path / "kek.key").exists()


@pytest.mark.parametrize(("env", "name"), [
    ({"ALPR_KEK": "too-short"}, "ALPR_KEK"),
    ({"ALPR_KEK": base64.b64encode(b"k" * 16).decode()}, "ALPR_KEK"),
    ({"ALPR_KEK": KEK, "ALPR_RETIRED_KEKS": "nope"}, "ALPR_RETIRED_KEKS"),
])
def test_malformed_kek_is_refused_naming_it(env: dict[str, str], name: str) -> None:
    """A KEK that is not base64 of 32 bytes stops the server with the variable's name."""
    with pytest.raises(SettingsError, match=name):
        load_settings(env)
