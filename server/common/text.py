"""Free-text fields: what characters a person or device may put in them.

PostgreSQL cannot store a NUL character in text at all (and SQLite would store it silently), and other
control characters in a name, label or case number are never meant: they are refused at the edge, by the
schemas, so bad input is a 422 that names the field rather than a database error.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MULTI_LINE", "SINGLE_LINE", "has_control_characters", "readable"]

# For msgspec Meta(pattern=...): msgspec searches, so the patterns are anchored, with \A and \Z because `$`
# also matches before a final newline ("officer1\n" would pass `^[a-z0-9]+$`).
# One-line values (names, codes, labels): no C0 control characters and no DEL.
SINGLE_LINE: Final = r"\A[^\x00-\x1f\x7f]*\Z"
# Prose (justifications, notes, descriptions): tabs and line breaks are allowed.
MULTI_LINE: Final = r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z"

_CONTROL: Final = frozenset(chr(c) for c in [*range(0x20), 0x7F])


def has_control_characters(value: str) -> bool:
    """True if ``value`` holds a C0 control character or DEL (NUL included)."""
    return not _CONTROL.isdisjoint(value)


# What msgspec says when a value breaks one of the patterns above, and what a person should read instead.
_PATTERN_MESSAGES: Final = {f"Expected `str` matching regex {p!r}": "control characters (such as NUL) are not allowed"
                            for p in (SINGLE_LINE, MULTI_LINE)}


def readable(message: str) -> str:
    """A schema error message with the control-character regexes replaced by words."""
    for raw, words in _PATTERN_MESSAGES.items():
        message = message.replace(raw, words)
    return message
