"""The plate reader on plates and frames the project renders (never the shared dataset)."""

from __future__ import annotations

import numpy as np
import pytest

from ocr_worker import locate
from ocr_worker.locate import Row, plate_candidates
from ocr_worker.reader import to_gray
from ocr_worker.synth import degrade, in_dealer_frame, render_plate, scene


@pytest.mark.parametrize(("plate", "top", "bottom", "font", "state"), [
    ("7KDN481", "California", "dmv.ca.gov", "DejaVuSansCondensed-Bold.ttf", "CA"),
    ("FUW999", "ALASKA", "The Last Frontier", "DejaVuSans-Bold.ttf", "AK"),
    ("ABC1234", "TEXAS", None, "DejaVuSansCondensed-Bold.ttf", "TX"),
    ("4GHJ562", "Virginia", "Virginia is for Lovers", "DejaVuSansMono-Bold.ttf", "VA"),
    ("MNP3071", "ILLINOIS", "Land of Lincoln", "DejaVuSansCondensed-Bold.ttf", "IL"),
])
def test_read_plate_and_state(reader, plate: str, top: str, bottom: str | None, font: str, state: str) -> None:
    """A rendered plate close-up reads as its number, and the state name or slogan on it gives the state."""
    read = reader.read_plate(render_plate(plate, top, bottom, font=font)[:, :, ::-1])
    assert (read.plate, read.state) == (plate, state)
    assert not read.low_confidence


# Emblems (Missouri's AB1 C2D) are learnt by the fine-tuned recogniser, which CI does not have (its weights are
# regenerated, not committed), so they are measured by bench/ocr.py rather than tested here.
@pytest.mark.parametrize(("plate", "separator", "split"), [
    ("ABC1234", "dash", 3),   # New York: ABC-1234
    ("DL3C2Z", "space", 3),   # Missouri's groups, with the emblem left out
    ("HK5R9C", "dot", 3),
])
def test_read_plate_split_by_a_mark(reader, plate: str, separator: str, split: int) -> None:
    """A number split by a gap, a dash or a dot reads as its characters alone, none dropped beside the mark."""
    read = reader.read_plate(render_plate(plate, "MISSOURI", separator=separator, split=split)[:, :, ::-1])
    assert read.plate == plate


def test_state_unknown_without_words(reader) -> None:
    """A plate that shows no state name gives no state rather than a guess."""
    read = reader.read_plate(render_plate("XYZ987")[:, :, ::-1])
    assert read.plate == "XYZ987"
    assert read.state is None


def test_read_frame_finds_plate(reader) -> None:
    """In a blurred, noisy frame the reader finds the plate, reads it, and boxes it."""
    frame = degrade(scene(render_plate("8TRW215", "OHIO"), at=(300, 250), plate_width=100),
                    np.random.default_rng(5), blur=1.0, noise=5)
    reads = reader.read_frame(frame)
    assert reads[0].plate == "8TRW215"
    x, y, w, h = reads[0].box
    assert x <= 350 <= x + w and y <= 275 <= y + h  # the plate's centre
    assert reads[0].crop is not None and reads[0].crop.size


@pytest.mark.parametrize(("plate", "seed"), [("5TGN556", 2), ("7EAV033", 3)])
def test_read_frame_plate_joined_to_dealer_frame(reader, plate: str, seed: int, monkeypatch) -> None:
    """A plate whose characters touch a dealer's frame, so no character row is found on it, is still read."""
    # Cutting out the frame's straight bars (locate.without_lines) frees these glyphs; a bent or shadowed frame is
    # not cut out, and that case, no row at all on the plate, is the one this test is about.
    monkeypatch.setattr(locate, "FRAME_LINES", (0,))
    at, width = (300, 230), 100
    frame = degrade(scene(in_dealer_frame(render_plate(plate, "California", height=200)), at=at, plate_width=width,
                          body=(200, 200, 205)), np.random.default_rng(seed), blur=0.8, noise=4)
    on_plate = [r for r in plate_candidates(to_gray(frame))
                if at[0] <= r.x + r.w / 2 <= at[0] + width and at[1] <= r.y + r.h / 2 <= at[1] + width // 2]
    assert on_plate == []  # the case this test is about: the glyphs merged with the frame
    reads = reader.read_frame(frame)
    assert reads[0].plate == plate
    x, y, w, h = reads[0].box
    assert x <= at[0] + width // 2 <= x + w and y <= at[1] + width // 4 <= y + h


def test_empty_frame_has_no_plate(reader) -> None:
    """A frame with no text in it gives no read."""
    assert reader.read_frame(np.full((360, 640, 3), 128, np.uint8)) == []


def test_unreadable_plate_is_low_confidence(reader) -> None:
    """A plate blurred past legibility is still reported, if anything is read, but flagged low confidence."""
    plate = render_plate("KLM4420")[:, :, ::-1]
    blurred = degrade(plate, np.random.default_rng(6), blur=9, noise=25)
    read = reader.read_plate(blurred)
    assert read is None or read.low_confidence


@pytest.mark.parametrize(("boxes", "kept"), [
    ([(10, 10, 100, 50), (20, 15, 90, 40)], ["AAA111"]),            # one plate read twice: the surer read only
    ([(10, 10, 100, 50), (300, 10, 100, 50)], ["AAA111", "BBB222"]),  # two plates side by side: both
])
def test_frame_reports_each_plate_once(boxes: list, kept: list[str]) -> None:
    """Reads of one plate from two finding passes give one result, the surer one (reads are sorted surest first)."""
    from ocr_worker.reader import PlateRead, _distinct

    reads = [PlateRead("AAA111", 0.9, boxes[0]), PlateRead("BBB222", 0.6, boxes[1])]
    assert [r.plate for r in _distinct(reads)] == kept


# The number's row in a 320 px wide plate image: x 100-220, characters 60 px high; a character counts up to 60 px out.
ROW = Row(100, 40, 120, 70, 5, 60.0, True)


@pytest.mark.parametrize(("places", "kept"), [
    ((110, 135, 160, 185, 210), "ABCDE"),        # all on the row
    ((20, 110, 135, 160, 185), "BCDE"),           # an emblem at the plate's left edge, 80 px out: dropped
    ((45, 110, 135, 160, 185), "ABCDE"),          # a character the row missed, right beside it: kept
    ((110, 135, 160, 185, 310), "ABCD"),          # a bolt at the right edge, 90 px out: dropped
])
def test_full_width_read_keeps_characters_beside_the_row(places: tuple[int, ...], kept: str) -> None:
    """A read of the whole plate's width loses characters far beyond the number's row, keeps those beside it."""
    from ocr_worker.reader import beside_row
    from ocr_worker.recognizer import TextRead

    text = "ABCDE"
    line = TextRead(text, tuple({ch: 1.0} for ch in text), 0.9, tuple(x / 320 for x in places))
    out = beside_row(line, ROW, 320)
    assert out.text == kept
    assert [next(iter(p)) for p in out.probs] == list(kept)


def _plate_line(plate: str, stacked: str | None):  # noqa: ANN202
    """A rendered plate at the reader's height, its number's row and the glyphs on that row's line."""
    from ocr_worker.locate import line_glyphs, text_rows
    from ocr_worker.reader import PLATE_HEIGHT, normalise_height

    gray = normalise_height(to_gray(render_plate(plate, "New Jersey", stacked=stacked)[:, :, ::-1]))
    row = next(r for r in text_rows(gray) if r.char_h >= 0.3 * PLATE_HEIGHT)
    return gray, row, line_glyphs(gray, row)


def _read_at(text: str, places: list[float], width: int):  # noqa: ANN202
    from ocr_worker.recognizer import TextRead

    return TextRead(text, tuple({ch: 1.0} for ch in text), 0.9, tuple(x / width for x in places))


@pytest.mark.parametrize("read", ["S2422", "LS2422"])
def test_stacked_letters_beside_the_number_are_dropped(read: str) -> None:
    """Letters printed small and stacked beside the number (New Jersey's LS 2422) are left out of the read."""
    from ocr_worker.reader import without_short_edges

    gray, row, glyphs = _plate_line("2422", stacked="LS")
    assert len(glyphs.small) == 2 and all(b <= row.x for _, b in glyphs.small)  # the two letters, left of the row
    stacked_x = sum(glyphs.small[0]) / 2
    digits_x = sorted((a + b) / 2 for a, b in glyphs.tall if a >= row.x and b <= row.x + row.w)
    assert len(digits_x) == 4
    places = [stacked_x] * (len(read) - 4) + digits_x
    out = without_short_edges(_read_at(read, places, gray.shape[1]), row, glyphs, (0, gray.shape[1]))
    assert out.text == "2422"
    assert [next(iter(p)) for p in out.probs] == list("2422")


def test_a_character_beside_the_number_stays_without_a_small_glyph_there() -> None:
    """Only a character on a small glyph is dropped: one beside the number where none is seen (a glyph the row missed)
    stays, and a plate with no small glyph keeps every character."""
    from ocr_worker.reader import without_short_edges

    gray, row, glyphs = _plate_line("2422", stacked="LS")
    digits_x = [row.x + (i + 0.5) * row.w / 4 for i in range(4)]
    stacked_x = sum(glyphs.small[0]) / 2
    missed_x = row.x + row.w + 0.4 * row.char_h  # just right of the row, where nothing is printed
    read = _read_at("S24221", [stacked_x, *digits_x, missed_x], gray.shape[1])
    assert without_short_edges(read, row, glyphs, (0, gray.shape[1])).text == "24221"

    gray, row, glyphs = _plate_line("2422", stacked=None)
    assert glyphs.small == ()
    read = _read_at("12422", [row.x - 0.4 * row.char_h, *digits_x], gray.shape[1])
    assert without_short_edges(read, row, glyphs, (0, gray.shape[1])).text == "12422"


def test_view_spans_match_the_views() -> None:
    """Each view's span is the part of the plate it shows, so a character's place in a view maps back to the plate."""
    from ocr_worker.reader import _plate_views, normalise_height

    gray = normalise_height(to_gray(render_plate("ABC1234", "Texas")[:, :, ::-1]))
    views, spans, row = _plate_views(gray)
    assert row is not None and len(spans) == len(views) == 8
    for view, (x0, width) in zip(views[:4], spans[:4], strict=True):
        assert x0 >= 0 and x0 + width <= gray.shape[1]
        assert view.shape[1] == width
        # The view's columns are the plate's columns from x0 on (rows aside): its first column is the plate's at x0.
        column = gray[:, x0]
        assert any(np.array_equal(view[:, 0], column[y:y + view.shape[0]]) for y in range(gray.shape[0] - view.shape[0] + 1))
    assert spans[4:] == spans[:4]  # the widened views show the same parts
