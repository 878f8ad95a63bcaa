"""Purpose-bound access, pure: the controlled list of purposes and what makes a stated purpose too vague."""

from __future__ import annotations

import re
from typing import Final, Literal

Purpose = Literal["criminal_investigation", "stolen_vehicle", "missing_person", "amber_silver_alert",
                  "civil_or_administrative", "audit"]
PURPOSES: Final = ("criminal_investigation", "stolen_vehicle", "missing_person", "amber_silver_alert",
                   "civil_or_administrative", "audit")
MIN_DETAIL_CHARS: Final = 20
MIN_DETAIL_WORDS: Final = 4
# Said alone, these name no investigation (policy A.2, H.4): "investigation" is a category, not a purpose.
VAGUE: Final = frozenset({
    "investigation", "investigative", "criminal investigation", "case", "law enforcement", "law enforcement purpose",
    "official business", "police business", "check", "checking", "lookup", "look up", "search", "query", "test",
    "testing", "n/a", "na", "none", "misc", "other", "work", "info", "information", "training", "curious",
    "just checking", "routine", "routine check", "follow up", "follow-up", "investigation purposes",
})
_WORD = re.compile(r"[A-Za-z]{2,}")
_CASE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9./#-]{1,63}\Z")


def purpose_problem(case_number: str, purpose: str, detail: str) -> str | None:
    """None when the access states a usable case and purpose; otherwise what is wrong, for a 422."""
    if not _CASE.match(case_number.strip()):
        return "case_number: give the case or incident number (letters, digits, '-', '/', '.', '#'; 2-64 characters)"
    if purpose not in PURPOSES:
        return f"purpose: one of {', '.join(PURPOSES)}"
    text = " ".join(detail.split())
    words = _WORD.findall(text)
    if text.lower().strip(" .!") in VAGUE or text.lower().strip(" .!") == purpose.replace("_", " "):
        return "purpose_detail: too vague; say in a sentence what you are looking for and why"
    if len(text) < MIN_DETAIL_CHARS or len(words) < MIN_DETAIL_WORDS:
        return (f"purpose_detail: say in a sentence (at least {MIN_DETAIL_WORDS} words, {MIN_DETAIL_CHARS} "
                "characters) what you are looking for and why")
    if len({w.lower() for w in words}) < 3:
        return "purpose_detail: too vague; the same word repeated says nothing"
    return None
