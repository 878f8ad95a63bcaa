"""Unit tests for server.hotlist.formats (the package API) and its NCIC-style fixed-width format."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from server.common.plates import normalize_plate, plate_problem
from server.hotlist.formats import (
    DEFAULT_SKIP_LIST,
    FORMATS,
    ImportRecord,
    LineProblem,
    new_record,
    parse,
    plate_or_problem,
)
from server.hotlist.formats.ncic import COLUMNS, LIST_TYPES, WIDTH
from server.hotlist.models import CATEGORIES, PERSON_LINKED

SAMPLE = Path(__file__).resolve().parents[3] / "server" / "hotlist" / "samples" / "ncic-sample.txt"

VALID = {"TYP": "V", "LIC": "SMT1001", "LIS": "AK", "LIY": "2026", "VYR": "2018", "VMA": "TOYT", "VMO": "CAM",
         "VCO": "BLK", "VST": "4D", "NIC": "V260000001", "DOE": "20260105", "EXP": "", "OFF": "", "NAM": ""}


def ncic_line(**fields: str) -> str:
    """One NCIC line: VALID with ``fields`` replaced, each padded to its columns, trailing blanks trimmed."""
    values = {**VALID, **fields}
    parts = []
    for name, (first, last) in COLUMNS.items():
        width = last - first + 1
        assert len(values[name]) <= width, f"{name} {values[name]!r} is wider than {width}"
        parts.append(values[name].ljust(width))
    return "".join(parts).rstrip()


def only(lines: list[str] | list[bytes], skip_list: frozenset[str] = DEFAULT_SKIP_LIST) -> ImportRecord | LineProblem:
    """The single result of parsing ``lines`` as NCIC."""
    results = list(parse("ncic", lines, "NCIC", skip_list))
    assert len(results) == 1, results
    return results[0]


def outcome(results: list[ImportRecord | LineProblem]) -> dict[str, list[int]]:
    """Line numbers by outcome: "record" or the problem kind."""
    by_kind: dict[str, list[int]] = {}
    for r in results:
        by_kind.setdefault(r.kind if isinstance(r, LineProblem) else "record", []).append(r.line)
    return by_kind


# --- the sample file ----------------------------------------------------------------------------------------------

SAMPLE_OUTCOME = {
    "record": list(range(1, 21)),
    "refused": list(range(21, 27)),
    "skipped": list(range(27, 31)),
    "bad": list(range(31, 37)),
}


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda p: p.open("rb"), id="binary-file"),
        pytest.param(lambda p: p.read_text(encoding="utf-8").splitlines(keepends=True), id="text-lines"),
        pytest.param(lambda p: p.read_bytes(), id="whole-body-bytes"),
        pytest.param(lambda p: p.read_text(encoding="utf-8"), id="whole-body-str"),
    ],
)
def test_sample_file_outcome(read) -> None:
    """The NCIC sample loads lines 1-20 and refuses, skips and rejects exactly the lines the README lists."""
    source = read(SAMPLE)
    try:
        results = list(parse("ncic", source, "NCIC"))
    finally:
        if hasattr(source, "close"):
            source.close()
    assert outcome(results) == SAMPLE_OUTCOME


def test_sample_file_refusals_by_code() -> None:
    """Refusals in the sample are counted by their NCIC code."""
    with SAMPLE.open("rb") as f:
        refused = Counter(r.code for r in parse("ncic", f, "NCIC") if isinstance(r, LineProblem) and r.kind == "refused")
    assert refused == {"IV": 1, "GM": 1, "VP": 1, "SO": 1, "FV": 1, "W": 1}


def test_sample_file_categories() -> None:
    """The sample's loaded lines cover every category."""
    with SAMPLE.open("rb") as f:
        categories = Counter(r.category for r in parse("ncic", f, "NCIC") if isinstance(r, ImportRecord))
    assert categories == {"stolen_vehicle": 8, "stolen_plate": 3, "violent_crime": 1, "drug_distribution": 1,
                          "wanted_person": 3, "missing_person": 2, "amber_alert": 1, "silver_alert": 1}


# --- a whole record ----------------------------------------------------------------------------------------------

def test_full_record() -> None:
    """Every field of a wanted-person line lands in the record."""
    line = ncic_line(TYP="W", LIC="SMT-101", LIS="MT", VCO="RED/WHI", VST="PK", NIC="W260000401", DOE="20260115",
                     EXP="20261231", OFF="1313", NAM="DOE, JOHN")
    assert only([line]) == ImportRecord(
        line=1, plate="SMT101", state="MT", category="wanted_person", source="NCIC", case_number="W260000401",
        justification="NCIC wanted person file, NIC W260000401, entered 2026-01-15", entered_at=date(2026, 1, 15),
        expires_at=datetime(2027, 1, 1, 12, tzinfo=UTC), priority=None, vehicle_year=2018, vehicle_make="TOYT",
        vehicle_model="CAM", vehicle_color="RED/WHI", vehicle_type="PK", subject="DOE, JOHN")


# --- list types ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typ", "off", "category", "file"),
    [
        ("V", "", "stolen_vehicle", "stolen vehicle file"),
        ("LP", "", "stolen_plate", "stolen license plate file"),
        ("W", "", "wanted_person", "wanted person file"),
        ("W", "2202", "wanted_person", "wanted person file"),
        ("MP", "", "missing_person", "missing person file"),
        ("MPD", "", "missing_person", "missing person file (disability)"),
        ("MPE", "", "missing_person", "missing person file (endangered)"),
        ("MPI", "", "missing_person", "missing person file (involuntary)"),
        ("MPJ", "", "missing_person", "missing person file (juvenile)"),
        ("MPV", "", "missing_person", "missing person file (catastrophe victim)"),
        ("MPO", "", "missing_person", "missing person file (other)"),
        ("AA", "", "amber_alert", "missing person file, Amber Alert"),
        ("SA", "", "silver_alert", "missing person file, Silver Alert"),
        ("FV", "0911", "violent_crime", "felony vehicle file (vehicle involved in violent crime, offence 0911)"),
        ("FV", "1005", "violent_crime", "felony vehicle file (vehicle involved in violent crime, offence 1005)"),
        ("FV", "1101", "violent_crime", "felony vehicle file (vehicle involved in violent crime, offence 1101)"),
        ("FV", "1202", "violent_crime", "felony vehicle file (vehicle involved in violent crime, offence 1202)"),
        ("FV", "1399", "violent_crime", "felony vehicle file (vehicle involved in violent crime, offence 1399)"),
        ("FV", "3530", "drug_distribution",
         "felony vehicle file (vehicle involved in drug distribution, offence 3530)"),
    ],
    ids=lambda v: v or "-",
)
def test_loaded_list_types(typ: str, off: str, category: str, file: str) -> None:
    """Each loaded list type becomes its category, and the justification names the file and the NIC."""
    record = only([ncic_line(TYP=typ, OFF=off)])
    assert isinstance(record, ImportRecord)
    assert record.category == category
    assert record.justification == f"NCIC {file}, NIC V260000001, entered 2026-01-05"


@pytest.mark.parametrize(
    ("typ", "off", "words"),
    [
        ("IV", "", "Immigration Violator File"),
        ("GM", "", "Gang File"),
        ("KST", "", "Known or Suspected Terrorist File"),
        ("PO", "", "Protection Order File"),
        ("SO", "", "National Sex Offender Registry"),
        ("SR", "", "Supervised Release File"),
        ("VP", "", "Violent Person File"),
        ("PI", "", "Protective Interest File"),
        ("ID", "", "Identity Theft File"),
        ("FV", "2202", "felony vehicle for offence 2202"),
        ("FV", "2404", "felony vehicle for offence 2404"),
        ("FV", "0301", "felony vehicle for offence 0301"),
        ("W", "0301", "immigration offence 0301"),
        ("W", "0399", "immigration offence 0399"),
    ],
    ids=lambda v: v or "-",
)
def test_refused_list_types(typ: str, off: str, words: str) -> None:
    """A list type with no place in policy II is refused with its code, never loaded."""
    problem = only([ncic_line(TYP=typ, OFF=off)])
    assert isinstance(problem, LineProblem)
    assert (problem.kind, problem.code) == ("refused", typ)
    assert words in problem.detail


@pytest.mark.parametrize("typ", ["IV", "GM", "VP"])
def test_refusal_wins_over_other_faults(typ: str) -> None:
    """A refused list type is counted as refused even when its plate, state and dates are also wrong."""
    problem = only([ncic_line(TYP=typ, LIC="", LIS="ZZ", NIC="", DOE="")])
    assert isinstance(problem, LineProblem) and problem.kind == "refused"


def test_list_types_map_only_to_categories() -> None:
    """Every loaded list type maps to a category of requirements §2; refused ones carry a reason."""
    for kind in LIST_TYPES.values():
        if kind.refused is None and kind.code != "FV":
            assert kind.category in CATEGORIES
        else:
            assert kind.category is None


# --- bad lines ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fields", "words"),
    [
        pytest.param({"TYP": "ZZ"}, "unknown list-type code 'ZZ'", id="unknown-type"),
        pytest.param({"TYP": ""}, "list-type code (columns 1-4) is blank", id="blank-type"),
        pytest.param({"LIS": "ZZ"}, "state 'ZZ' is not a US state", id="bad-state"),
        pytest.param({"LIC": "SMT1001XYZ"}, "is 10 characters; at most 8", id="plate-too-long"),
        pytest.param({"LIC": "SM$1001"}, "characters outside A-Z and 0-9: '$'", id="plate-bad-character"),
        pytest.param({"NIC": "26-0000010"}, "NIC '26-0000010' in columns 41-50 is not a letter and nine digits",
                     id="bad-nic"),
        pytest.param({"NIC": "V26000001"}, "is not a letter and nine digits", id="short-nic"),
        pytest.param({"NIC": ""}, "is not a letter and nine digits", id="blank-nic"),
        pytest.param({"DOE": "20261302"}, "date of entry '20261302' in columns 51-58 is not a valid date",
                     id="bad-entry-date"),
        pytest.param({"DOE": "2026010"}, "is not a valid date", id="short-entry-date"),
        pytest.param({"DOE": ""}, "date of entry (columns 51-58) is blank", id="blank-entry-date"),
        pytest.param({"EXP": "20260230"}, "expiry date '20260230' in columns 59-66", id="bad-expiry"),
        pytest.param({"VYR": "1850"}, "vehicle year '1850' in columns 21-24", id="year-too-early"),
        pytest.param({"VYR": "19X5"}, "vehicle year '19X5'", id="year-not-digits"),
        pytest.param({"TYP": "FV"}, "felony vehicle (FV) without an offence code", id="fv-without-offence"),
        pytest.param({"TYP": "FV", "OFF": "12A2"}, "offence code '12A2' in columns 67-70 is not four digits",
                     id="fv-offence-not-digits"),
        pytest.param({"TYP": "W", "NAM": "DOE,\tJOHN"}, "column 75 holds the control character U+0009",
                     id="tab-in-name"),
        pytest.param({"VMA": "TO\x00T"}, "column 27 holds the control character U+0000", id="nul-in-make"),
    ],
)
def test_bad_lines(fields: dict[str, str], words: str) -> None:
    """A malformed line is bad, with a detail that says which columns and what is wrong."""
    problem = only([ncic_line(**fields)])
    assert isinstance(problem, LineProblem)
    assert problem.kind == "bad"
    assert words in problem.detail


def test_line_too_long() -> None:
    """A line longer than the layout is bad and shows what is past column 100."""
    problem = only([ncic_line(NAM="DOE, JOHN").ljust(WIDTH) + "EXTRA"])
    assert isinstance(problem, LineProblem) and problem.kind == "bad"
    assert f"105 columns long; the NCIC layout has {WIDTH}" in problem.detail and "'EXTRA'" in problem.detail


def test_undecodable_line_is_bad_and_parsing_goes_on() -> None:
    """A line that is not UTF-8 is bad at its own number, and the lines after it keep theirs."""
    lines = [ncic_line(LIC="SMT1001").encode() + b"\n",
             ncic_line(LIC="SMT1002", NAM="X").encode().replace(b"X", b"\xe9") + b"\n",
             ncic_line(LIC="SMT1003").encode() + b"\n"]
    results = list(parse("ncic", lines, "NCIC"))
    assert outcome(results) == {"record": [1, 3], "bad": [2]}
    assert "column 71 holds the byte 0xE9, which is not UTF-8" in results[1].detail


# --- plates, skip list, states, dates -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("SMT1001", "SMT1001"),
        ("smt1001", "SMT1001"),
        ("SMT-1001", "SMT1001"),
        ("SMT 101", "SMT101"),
        ("SMT.101", "SMT101"),
        (" SMT101", "SMT101"),
        ("ＳＭＴ１０１", "SMT101"),
        ("SMT\u2013101", "SMT101"),
        ("12345678", "12345678"),
        ("A", "A"),
    ],
)
def test_plates_are_normalised_as_everywhere_else(raw: str, plate: str) -> None:
    """The plate comes out exactly as server.common.plates.normalize_plate makes it."""
    record = only([ncic_line(LIC=raw)])
    assert isinstance(record, ImportRecord)
    assert record.plate == plate == normalize_plate(raw)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("UNKNOWN", "UNKNOWN"),
        ("UNK", "UNK"),
        ("0", "0"),
        ("000", "000"),
        ("00000000", "00000000"),
        ("NO TAG", "NOTAG"),
        ("no-plate", "NOPLATE"),
        ("N/A", "N/A"),
        ("NONE", "NONE"),
        ("XXXXXXX", "XXXXXXX"),
        ("", ""),
    ],
    ids=lambda v: v or "blank",
)
def test_junk_plates_are_skipped(raw: str, code: str) -> None:
    """A plate on the skip list (or none at all) is skipped, with the normalised plate as its code."""
    problem = only([ncic_line(LIC=raw)])
    assert isinstance(problem, LineProblem)
    assert (problem.kind, problem.code) == ("skipped", code)


def test_custom_skip_list_is_normalised_and_replaces_the_default() -> None:
    """A department's skip list is normalised like plates and used instead of the default."""
    lines = [ncic_line(LIC="SMT-999"), ncic_line(LIC="UNKNOWN", NIC="V260000002")]
    results = list(parse("ncic", lines, "NCIC", frozenset({"smt 999"})))
    assert outcome(results) == {"skipped": [1], "record": [2]}


def test_default_skip_list_is_normalised() -> None:
    """Every default skip-list entry is already in normalised form, so it can match."""
    assert all(normalize_plate(entry) == entry for entry in DEFAULT_SKIP_LIST)
    assert {"0", "00", "000", "UNKNOWN", "UNK", "NOTAG", "NOPLATE", "NONE", "TEMP", "XXXXXXX", "NA"} <= DEFAULT_SKIP_LIST


@pytest.mark.parametrize(
    ("raw", "state"),
    [("AK", "AK"), ("ak", "AK"), ("DC", "DC"), ("PR", "PR"), ("BC", "BC"), ("PQ", "QC"), ("NF", "NL"),
     ("", None), ("XX", None), ("??", None)],
    ids=lambda v: v or "blank",
)
def test_states(raw: str, state: str | None) -> None:
    """States are region codes; NCIC's PQ and NF are Quebec and Newfoundland; blank or XX means unknown."""
    record = only([ncic_line(LIS=raw)])
    assert isinstance(record, ImportRecord)
    assert record.state == state


@pytest.mark.parametrize(
    ("exp", "expires_at"),
    [("", None), ("20261231", datetime(2027, 1, 1, 12, tzinfo=UTC)), ("20280229", datetime(2028, 3, 1, 12, tzinfo=UTC))],
    ids=["none", "new-year", "leap-day"],
)
def test_expiry_keeps_the_whole_last_day(exp: str, expires_at: datetime | None) -> None:
    """A date-only expiry matches through that day everywhere: it ends at 12:00 UTC the next day."""
    record = only([ncic_line(EXP=exp)])
    assert isinstance(record, ImportRecord)
    assert record.expires_at == expires_at


@pytest.mark.parametrize(
    ("typ", "subject"),
    [("V", None), ("LP", None), ("W", "DOE, JOHN"), ("MP", "DOE, JOHN"), ("AA", "DOE, JOHN"), ("SA", "DOE, JOHN")],
)
def test_name_is_kept_only_for_person_linked_types(typ: str, subject: str | None) -> None:
    """NAM becomes the subject for person-linked list types; for a stolen car it is the owner and is dropped."""
    record = only([ncic_line(TYP=typ, NAM="DOE, JOHN")])
    assert isinstance(record, ImportRecord)
    assert record.subject == subject
    assert (record.category in PERSON_LINKED) == (subject is not None)


# --- line handling ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param([ncic_line(), "", "   ", ncic_line(NIC="V260000002")], {"record": [1, 4]}, id="blank-lines"),
        pytest.param([ncic_line() + "\r\n", ncic_line(NIC="V260000002") + "\n"], {"record": [1, 2]}, id="crlf"),
        pytest.param([ncic_line().ljust(WIDTH) + "\n"], {"record": [1]}, id="full-width-padded"),
        pytest.param([ncic_line()[:58]], {"record": [1]}, id="trimmed-after-entry-date"),
        pytest.param([ncic_line()[:50]], {"bad": [1]}, id="cut-before-entry-date"),
        pytest.param(["\ufeff" + ncic_line()], {"record": [1]}, id="byte-order-mark"),
        pytest.param([], {}, id="empty"),
    ],
)
def test_line_handling(lines: list[str], expected: dict[str, list[int]]) -> None:
    """Blank lines are ignored without renumbering; endings, padding, trimming and a BOM are handled."""
    assert outcome(list(parse("ncic", lines, "NCIC"))) == expected


def test_bytes_byte_order_mark() -> None:
    """A UTF-8 byte-order mark on a binary first line is dropped."""
    record = only([b"\xef\xbb\xbf" + ncic_line().encode()])
    assert isinstance(record, ImportRecord) and record.line == 1


# --- the package API ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fmt", "source", "words"),
    [("xml", "NCIC", "unknown import format 'xml'"), ("ncic", "FBI", "unknown source 'FBI'")],
    ids=["format", "source"],
)
def test_parse_refuses_unknown_format_or_source(fmt: str, source: str, words: str) -> None:
    """An unknown format or source is the caller's mistake: ValueError at once, before any line is read."""
    with pytest.raises(ValueError, match=words):
        parse(fmt, [], source)


def test_formats_registry() -> None:
    """The three formats are registered under their names."""
    assert {name: f.name for name, f in FORMATS.items()} == {"ncic": "ncic", "csv": "csv", "apsin": "apsin"}


def test_source_is_passed_through() -> None:
    """The record's source is the one the import names."""
    record = next(parse("ncic", [ncic_line()], "APSIN"))
    assert isinstance(record, ImportRecord) and record.source == "APSIN"


def test_records_are_frozen() -> None:
    """A record built on the fast path is a real, frozen, hashable ImportRecord."""
    record = only([ncic_line()])
    assert type(record) is ImportRecord
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.plate = "OTHER"  # type: ignore[misc]
    assert hash(record) == hash(dataclasses.replace(record))


def test_fast_builder_equals_the_dataclass() -> None:
    """new_record builds the same value as ImportRecord's own constructor, field for field."""
    values = (7, "SMT1", "AK", "stolen_vehicle", "NCIC", "V1", "why", date(2026, 1, 1), None, 4, 2020, "TOYT", "CAM",
              "BLK", "4D", None)
    fast, slow = new_record(*values), ImportRecord(*values)
    assert fast == slow and repr(fast) == repr(slow)
    assert [f.name for f in dataclasses.fields(ImportRecord)] == list(ImportRecord.__slots__)


@pytest.mark.parametrize(
    "raw",
    ["ABC123", "abc123", "ABC 123", "ABC-123", "AB.C1", " ABC123 ", "ABC\t123", "A\x1cB", "N/A", "AB$1", "", "   ",
     "ABCDEFGHJ", "ABCD-EFGH", "ＡＢＣ１", "ABC\u00b7123", "ÄBC1", "ß1", "ﬁ12", "Ⅻ1", "ABC\u00a0123", "-"],
)
def test_plate_helper_agrees_with_common_plates(raw: str) -> None:
    """The hot loops' plate helper gives exactly normalize_plate's plate and plate_problem's verdict."""
    assert plate_or_problem(raw) == (normalize_plate(raw), plate_problem(normalize_plate(raw)))
