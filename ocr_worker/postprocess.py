"""From several recogniser reads of one plate to one plate string: voting, O/0 and syntax (pure)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ocr_worker.states import looks_like_sticker
from ocr_worker.syntax import correct, plausible


@dataclass(frozen=True)
class Line:
    """One recogniser read: text, per-character odds and the recogniser's confidence."""

    text: str
    probs: tuple[Mapping[str, float], ...]
    confidence: float


@dataclass(frozen=True)
class Consensus:
    """The plate string several reads agree on, its confidence (0..1) and the raw best read."""

    plate: str
    confidence: float
    raw: str
    agreement: float


def canonical_o(plate: str) -> str:
    """Write the round glyph as 0.

    Most US states print O and 0 with one glyph, so no reader can tell them apart; the server's matching
    treats them as one class, and the reader always writes the digit rather than guess.
    """
    return plate.replace("O", "0")


# A faint character that some views miss splits the length vote between a reading and that reading with the character:
# the longer one wins when it has nearly the weight of the likeliest and every read of that length lies inside one of
# its reads. (Chosen on the development set: at 0.8 and below, a stacked letter some views kept came back.)
LONGER_SHARE = 0.9


def consensus(lines: Sequence[Line]) -> Consensus | None:
    """Fold reads of one plate: the likeliest length wins (or a near-tie that extends it), then per-position odds
    are averaged.

    Reads that cannot be a plate (too short or long, a sticker's month or year) carry no weight.
    """
    weights: dict[int, float] = defaultdict(float)
    usable = []
    for line in lines:
        if looks_like_sticker(line.text):
            continue
        w = line.confidence * plausible(line.text)
        if w <= 0:
            continue
        usable.append((line, w))
        weights[len(line.text)] += w
    if not usable:
        return None
    length = max(weights, key=lambda n: (weights[n], n))
    longer = [n for n in weights if n > length and weights[n] >= LONGER_SHARE * weights[length]
              and _within(usable, length, n)]
    if longer:
        length = max(longer, key=lambda n: weights[n])
    same = [(line, w) for line, w in usable if len(line.text) == length]
    total = sum(w for _, w in same)
    # Average each position's distribution over the reads of that length, weighted by their confidence.
    averaged: list[dict[str, float]] = []
    for i in range(length):
        table: dict[str, float] = defaultdict(float)
        for line, w in same:
            for ch, p in line.probs[i].items():
                table[ch] += p * w / total
        averaged.append(dict(table))
    best = "".join(max(t, key=t.get) for t in averaged)
    fixed = correct(best, averaged).plate
    plate = canonical_o(fixed)
    agreement = weights[length] / sum(weights.values())
    char_conf = [_class_prob(t, ch) for t, ch in zip(averaged, plate, strict=True)]
    geo = math.exp(sum(math.log(max(p, 1e-6)) for p in char_conf) / len(char_conf))
    raw = max(same, key=lambda lw: lw[1])[0].text
    return Consensus(plate, round(geo * agreement * plausible(plate) ** 0.5, 4), raw, round(agreement, 4))


def _within(usable: Sequence[tuple[Line, float]], short: int, long: int) -> bool:
    """Whether every read `short` characters long lies inside some read `long` characters long."""
    longs = [line.text for line, _ in usable if len(line.text) == long]
    return all(any(line.text in text for text in longs) for line, _ in usable if len(line.text) == short)


def _class_prob(table: Mapping[str, float], ch: str) -> float:
    """The probability of `ch`, counting O and 0 as one (we canonicalise one into the other)."""
    if ch in "0O":
        return table.get("0", 0.0) + table.get("O", 0.0)
    return table.get(ch, 0.0)
