"""Unit tests for server.common.text: which characters free-text fields refuse."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
import pytest

from server.common.text import MULTI_LINE, SINGLE_LINE, has_control_characters, readable


@pytest.mark.parametrize(("value", "single", "multi"), [
    ("ABC 123", True, True),
    ("Québec – 5th Ave · “quoted”", True, True),
    ("", True, True),
    ("line one\nline two", False, True),
    ("tab\tseparated", False, True),
    ("crlf\r\n", False, True),
    ("trailing newline\n", False, True),
    ("nul\x00byte", False, False),
    ("bell\x07", False, False),
    ("escape\x1b[31m", False, False),
    ("delete\x7f", False, False),
    ("vertical\x0btab", False, False),
])
def test_single_and_multi_line_patterns(value: str, single: bool, multi: bool) -> None:
    """Names refuse every control character; prose allows tabs and line breaks; NUL and escapes never pass."""
    assert bool(re.search(SINGLE_LINE, value)) is single
    assert bool(re.search(MULTI_LINE, value)) is multi


@pytest.mark.parametrize(("value", "expected"), [
    ("plain", False), ("", False), ("a\x00", True), ("\x1f", True), ("\x7f", True), ("é€", False), (" ", False),
])
def test_has_control_characters(value: str, expected: bool) -> None:
    """Control characters (C0 and DEL) are found anywhere in a value; other Unicode is fine."""
    assert has_control_characters(value) is expected


class Body(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(pattern=SINGLE_LINE)]
    note: Annotated[str, msgspec.Meta(pattern=MULTI_LINE)] = ""


def test_readable_replaces_the_regex_in_msgspec_errors() -> None:
    """A schema error for a control character reads as words, not as a regular expression."""
    for raw in (b'{"name": "a\\u0000"}', b'{"name": "a", "note": "b\\u0000"}'):
        with pytest.raises(msgspec.ValidationError) as err:
            msgspec.json.decode(raw, type=Body)
        text = readable(str(err.value))
        assert "control characters" in text and "regex" not in text
        assert text.endswith("`") and "$." in text  # the field path is kept
    assert readable("Expected `int`, got `str`") == "Expected `int`, got `str`"
