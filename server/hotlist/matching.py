"""OCR-equivalence keys and match classification for hot-list matching."""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "MATCH_KIND_RANK",
    "MatchKind",
    "OCR_CONFUSION_CLASSES",
    "classify",
    "ocr_key",
    "state_mismatch",
]

# Characters that plate OCR routinely confuses with one another. Each class's
# first character is its representative in an OCR key. A character may be in
# at most one class, otherwise its key would depend on table order.
OCR_CONFUSION_CLASSES: Final[tuple[str, ...]] = (
    "0ODQ",  # round glyphs: zero, O, D and Q differ only by a stroke or tail
    "1IL",  # single vertical strokes: one, I and L (L's foot is often lost)
    "2Z",  # same zig-zag shape
    "4A",  # closed triangle with a crossbar
    "5S",  # 5 is an angular S
    "6G",  # open loop with an inward hook
    "7T",  # top bar over a single stroke
    "8B",  # two stacked loops
)


def _build_key_table(classes: tuple[str, ...]) -> dict[int, int]:
    """Map every character of every class to its class's first character."""
    table: dict[int, int] = {}
    for cls in classes:
        representative = ord(cls[0])
        for ch in cls:
            if ord(ch) in table:
                raise ValueError(f"character {ch!r} is in more than one OCR class")
            table[ord(ch)] = representative
    return table


# Precomputed once: ocr_key runs for every read and every hot-list entry.
_OCR_KEY_TABLE: Final = _build_key_table(OCR_CONFUSION_CLASSES)

MatchKind = Literal["exact", "plate_only", "ocr_equivalent"]

# Lower is stronger; used to sort candidates so the best match is shown first.
MATCH_KIND_RANK: Final[dict[MatchKind, int]] = {
    "exact": 0,
    "plate_only": 1,
    "ocr_equivalent": 2,
}


def ocr_key(plate: str) -> str:
    """Return ``plate`` with each character replaced by its OCR class representative.

    Characters in no class map to themselves, so the key has the same length
    as the plate. Expects a normalised (upper-case) plate.
    """
    return plate.translate(_OCR_KEY_TABLE)


def _known(state: str | None) -> bool:
    # Normalised unknown states are None; an empty string is treated the same
    # so that a stray "" can never count as a real, differing state.
    return bool(state)


def state_mismatch(read_state: str | None, entry_state: str | None) -> bool:
    """Return True when both states are known and differ."""
    return _known(read_state) and _known(entry_state) and read_state != entry_state


def classify(
    read_plate: str,
    read_state: str | None,
    entry_plate: str,
    entry_state: str | None,
) -> MatchKind | None:
    """Classify how a read matches a hot-list entry, or None if it does not.

    All arguments must already be normalised.
    """
    if read_plate == entry_plate:
        if _known(read_state) and read_state == entry_state:
            return "exact"
        # Same characters but the state is unknown or different. This is never
        # "exact": a stolen Montana motorcycle and a Colorado SUV can share a
        # plate, so the officer must be shown the state difference.
        return "plate_only"
    if len(read_plate) != len(entry_plate):
        return None
    if ocr_key(read_plate) != ocr_key(entry_plate):
        return None
    if state_mismatch(read_state, entry_state):
        # Doubt about the characters plus a conflicting state is two
        # independent doubts: too weak to stop a vehicle on.
        return None
    return "ocr_equivalent"
