"""US plate syntax and OCR-confusion-aware correction of a read (pure: no I/O, no model)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ocr_worker import ALPHABET
from server.hotlist.matching import OCR_CONFUSION_CLASSES

LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGITS = frozenset("0123456789")

# The server's hot-list matching uses the same confusion classes (0/O/D/Q, 1/I/L, 2/Z, ...): syntax may
# swap a character only within its class (never 'A' for '7' because a template wants a digit). Small, blurred
# plate fonts add two pairs the server's classes lack: an open-topped 4 reads as L, a 7 with a serif as Z.
EXTRA_CONFUSIONS = ("4L", "7Z")
CLASS_OF: Mapping[str, str] = {
    ch: "".join(dict.fromkeys(cls + "".join(e for e in EXTRA_CONFUSIONS if ch in e)))
    for cls in OCR_CONFUSION_CLASSES for ch in cls
}

# Letter/digit layouts that US states issue in bulk (L letter, D digit), with a rough share of plates
# on the road. Vanity and specialty plates follow none: a read that fits no template is kept as read unless a
# template is one confusable glyph away (or a few) where the recogniser was unsure.
TEMPLATES: Mapping[str, float] = {
    "LLLDDDD": 0.12, "DLLLDDD": 0.10, "LLLDDD": 0.12, "DDDLLL": 0.06, "LLDDDD": 0.04,
    "DLLDDD": 0.03, "DDDLLLL": 0.02, "LLLLDDD": 0.02, "LDDDDLL": 0.01, "DDLLDDD": 0.02,
    "LLDDDDD": 0.02, "DDDDLL": 0.01, "DLDDDDL": 0.01, "DDDDDDD": 0.02, "DDDDDD": 0.02,
    "LLDLDDD": 0.01, "DDDLDDD": 0.01, "LDDLLL": 0.01, "DLLDDDD": 0.01, "LLLDDDL": 0.01,
    "LLDLDL": 0.02,  # Missouri (about 2% of US vehicles)
}
# Plates of no common layout (vanity, specialty, older issues), about a tenth of those on the road, are spread over
# every letter/digit layout of their length: any one such layout is far rarer than a common one (Missouri's LLDLDL,
# at 2%, is 37 times likelier than an unlisted six-character layout such as LLLLDL).
UNLISTED_SHARE = 0.10
LENGTH_SHARE: Mapping[int, float] = {2: 0.01, 3: 0.02, 4: 0.04, 5: 0.08, 6: 0.35, 7: 0.45, 8: 0.05}
# A character the recogniser read this surely is never swapped to fit a layout: on frame-sized plates its characters
# at 95% or surer were right in 740 of 741, those at 90-95% in only 35 of 44 (bench/README.md, 2026-12-05).
SURE = 0.95
# How much less a string of one repeated character looks like a plate (see plausible).
REPEATED_GLYPH = 0.2


def layout_share(plate_layout: str) -> float:
    """The rough share of plates on the road with this letter/digit layout."""
    if plate_layout in TEMPLATES:
        return TEMPLATES[plate_layout]
    n = len(plate_layout)
    return UNLISTED_SHARE * LENGTH_SHARE.get(n, 0.01) / 2 ** n


@dataclass(frozen=True)
class Corrected:
    """A plate string after correction, and which positions syntax changed."""

    plate: str
    changed: tuple[int, ...]
    template: str | None


def layout(plate: str) -> str:
    """The L/D layout of a plate string ('ABC123' -> 'LLLDDD')."""
    return "".join("D" if ch in DIGITS else "L" for ch in plate)


def correct(plate: str, probs: Sequence[Mapping[str, float]] | None = None) -> Corrected:
    """Resolve confusable glyphs by plate syntax where the recogniser was unsure.

    `probs` holds, per position, the recogniser's probability of each character (missing = 0). The result is
    the likeliest string under those odds and the layout's share of plates, where only characters read at under
    SURE may change. Without odds every character counts as sure, and the read is returned as it is.
    """
    plate = "".join(ch for ch in plate.upper() if ch in ALPHABET)
    if probs is None:
        probs = [{ch: 1.0} for ch in plate]
    if len(probs) != len(plate):
        raise ValueError("one probability table per character")

    def score(chars: str) -> float:
        odds = sum(math.log(max(p.get(c, 0.0), 1e-6)) for c, p in zip(chars, probs, strict=True))
        return odds + math.log(layout_share(layout(chars)))

    def unsure(ch: str, p: Mapping[str, float]) -> bool:
        return p.get(ch, 0.0) < SURE * sum(p.values())

    best, best_score = plate, score(plate)
    best_template = layout(plate) if layout(plate) in TEMPLATES else None
    for template in TEMPLATES:
        if len(template) != len(plate):
            continue
        chars = []
        for ch, kind, p in zip(plate, template, probs, strict=True):
            if (ch in DIGITS) == (kind == "D"):
                chars.append(ch)
                continue
            # The most probable member of the character's confusion class that the template allows.
            twins = [o for o in CLASS_OF.get(ch, "") if (o in DIGITS) == (kind == "D")]
            if not twins or not unsure(ch, p):
                break
            chars.append(max(twins, key=lambda o: p.get(o, 0.0)))
        else:
            candidate = "".join(chars)
            s = score(candidate)
            if s > best_score:
                best, best_score, best_template = candidate, s, template
    changed = tuple(i for i, (a, b) in enumerate(zip(plate, best, strict=True)) if a != b)
    return Corrected(best, changed, best_template)


def plausible(plate: str) -> float:
    """How much a string looks like a US plate number, 0..1 (length, character mix)."""
    n = len(plate)
    if n < 2 or n > 8 or any(ch not in ALPHABET for ch in plate):
        return 0.0
    length_score = {2: 0.2, 3: 0.4, 4: 0.6, 5: 0.8, 6: 1.0, 7: 1.0, 8: 0.7}[n]
    # All-letter runs of 5+ are usually words (state names, slogans) rather than plate numbers.
    letters = sum(ch in LETTERS for ch in plate)
    if letters == n and n >= 5:
        length_score *= 0.5
    if layout(plate) in TEMPLATES:
        length_score = min(1.0, length_score * 1.1)
    if len(set(plate)) == 1:
        # One glyph over and over ("1111", "IIIII") is a grille, a fence or a barcode's bars far more often than a plate.
        length_score *= REPEATED_GLYPH
    return length_score
