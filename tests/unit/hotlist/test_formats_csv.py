"""Unit tests for server.hotlist.formats.csv_format, the CSV hot list of api-v1.md."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.hotlist.formats import ImportRecord, LineProblem, parse
from server.hotlist.formats.csv_format import COLUMNS
from server.hotlist.models import CATEGORIES

SAMPLE = Path(__file__).resolve().parents[3] / "server" / "hotlist" / "samples" / "csv-sample.csv"
HEADER = "plate,state,category,case_number,expires_at,priority,vehicle_year,vehicle_make,vehicle_model," \
         "vehicle_color,vehicle_type,description\n"
VALID = {"plate": "SMC1001", "state": "AK", "category": "stolen_vehicle", "case_number": "26-004501",
         "expires_at": "", "priority": "", "vehicle_year": "2018", "vehicle_make": "Toyota", "vehicle_model": "Camry",
         "vehicle_color": "Black", "vehicle_type": "Sedan", "description": ""}


def csv_row(**fields: str) -> str:
    """One data line in HEADER's column order: VALID with ``fields`` replaced (values written as given)."""
    values = {**VALID, **fields}
    return ",".join(values[c] for c in COLUMNS) + "\n"


def run(*rows: str, header: str = HEADER, source: str = "RMS") -> list[ImportRecord | LineProblem]:
    """Parse HEADER (or ``header``) and ``rows`` as CSV."""
    return list(parse("csv", [header, *rows], source))


def only(*rows: str, header: str = HEADER) -> ImportRecord | LineProblem:
    """The single result of parsing one or more rows that make one record."""
    results = run(*rows, header=header)
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
    "record": [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16],
    "refused": [17, 18, 19, 20],
    "skipped": [21, 22, 23],
    "bad": [24, 25, 26, 27, 28, 29, 30],
}


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda p: p.open("rb"), id="binary-file"),
        pytest.param(lambda p: p.open(encoding="utf-8", newline=""), id="text-file"),
        pytest.param(lambda p: p.read_bytes(), id="whole-body-bytes"),
        pytest.param(lambda p: p.read_text(encoding="utf-8"), id="whole-body-str"),
    ],
)
def test_sample_file_outcome(read) -> None:
    """The CSV sample loads, refuses, skips and rejects exactly the lines the README lists."""
    source = read(SAMPLE)
    try:
        results = list(parse("csv", source, "RMS"))
    finally:
        if hasattr(source, "close"):
            source.close()
    assert outcome(results) == SAMPLE_OUTCOME


def test_sample_file_refusals_by_code() -> None:
    """Refusals in the sample are counted by the category the file gave."""
    with SAMPLE.open("rb") as f:
        refused = Counter(r.code for r in parse("csv", f, "RMS") if isinstance(r, LineProblem) and r.kind == "refused")
    assert refused == {"immigration_violator": 1, "gang_member": 1, "protest_organizer": 1, "sex_offender": 1}


def test_sample_multi_line_description() -> None:
    """The sample's quoted two-line description is one record, reported at the line where it starts."""
    with SAMPLE.open("rb") as f:
        record = next(r for r in parse("csv", f, "RMS") if r.line == 9)
    assert isinstance(record, ImportRecord)
    assert record.subject == "Suspect vehicle, armed robbery\nat 5th Ave and E St; two occupants"


# --- a whole record -----------------------------------------------------------------------------------------------

def test_full_record() -> None:
    """Every column lands in its field; description becomes subject."""
    row = csv_row(plate="smc-2001", state="Alaska", category="wanted_person", case_number=" W-26-0211 ",
                  expires_at="2026-12-31T23:59:00-09:00", priority="3", description='"ROE, RICHARD, armed"')
    assert only(row) == ImportRecord(
        line=2, plate="SMC2001", state="AK", category="wanted_person", source="RMS", case_number="W-26-0211",
        justification="CSV hot-list import from RMS, wanted person, case W-26-0211", entered_at=None,
        expires_at=datetime(2027, 1, 1, 8, 59, tzinfo=UTC), priority=3, vehicle_year=2018, vehicle_make="Toyota",
        vehicle_model="Camry", vehicle_color="Black", vehicle_type="Sedan", subject="ROE, RICHARD, armed")


def test_minimal_header_any_order() -> None:
    """Only plate, state and category are required, in any order and any case; absent columns are None."""
    record = only("stolen_plate,SMC1,ak\n", header="Category, PLATE ,State\n")
    assert record == ImportRecord(
        line=2, plate="SMC1", state="AK", category="stolen_plate", source="RMS", case_number="",
        justification="CSV hot-list import from RMS, stolen plate, line 2 (no case number)", entered_at=None,
        expires_at=None, priority=None, vehicle_year=None, vehicle_make=None, vehicle_model=None, vehicle_color=None,
        vehicle_type=None, subject=None)


def test_header_names_with_spaces() -> None:
    """Header names are forgiving: "Vehicle Make" reads as vehicle_make."""
    record = only("SMC1,AK,stolen_vehicle,Toyota\n", header="Plate,State,Category,Vehicle Make\n")
    assert isinstance(record, ImportRecord) and record.vehicle_make == "Toyota"


# --- categories ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_loads(category: str) -> None:
    """Each category of requirements §2 is accepted as written."""
    record = only(csv_row(category=category))
    assert isinstance(record, ImportRecord) and record.category == category


@pytest.mark.parametrize(
    ("raw", "category"),
    [("Stolen Vehicle", "stolen_vehicle"), ("STOLEN-PLATE", "stolen_plate"), (" amber_alert ", "amber_alert"),
     ("Drug  Distribution", "drug_distribution")],
)
def test_category_spelling_is_forgiven(raw: str, category: str) -> None:
    """Case, spaces and hyphens in a category are forgiven."""
    record = only(csv_row(category=raw))
    assert isinstance(record, ImportRecord) and record.category == category


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("immigration_violator", "immigration_violator"),
        ("Illegal Alien", "illegal_alien"),
        ("gang_member", "gang_member"),
        ("Protest Organizer", "protest_organizer"),
        ("religious_group", "religious_group"),
        ("race", "race"),
        ("ethnicity", "ethnicity"),
        ("political_affiliation", "political_affiliation"),
        ("sex_offender", "sex_offender"),
        ("protection_order", "protection_order"),
        ("parolee", "parolee"),
        ("violent_person", "violent_person"),
        ("known_terrorist", "known_terrorist"),
        ("lgbt_venue", "lgbt_venue"),
        ("journalist", "journalist"),
    ],
)
def test_categories_outside_policy_are_refused(raw: str, code: str) -> None:
    """A category naming a protected class, an association or a refused list type is refused, with its code."""
    problem = only(csv_row(category=raw))
    assert isinstance(problem, LineProblem)
    assert (problem.kind, problem.code) == ("refused", code)
    assert "D.3, D.5" in problem.detail


@pytest.mark.parametrize(
    ("raw", "words"),
    [("stolen_vehical", "unknown category 'stolen_vehical'"), ("hit_and_run", "unknown category 'hit_and_run'"),
     ("", "category is blank")],
    ids=["typo", "not-a-category", "blank"],
)
def test_unknown_categories_are_bad(raw: str, words: str) -> None:
    """Any other unknown category is bad (most likely a typo) and the detail lists the allowed ones."""
    problem = only(csv_row(category=raw))
    assert isinstance(problem, LineProblem) and problem.kind == "bad"
    assert words in problem.detail and "stolen_vehicle" in problem.detail


# --- header -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("header", "words"),
    [
        pytest.param("plate,state\n", "missing required column category", id="missing-required"),
        pytest.param("plate,state,category,justification\n", "unknown column 'justification'", id="unknown-column"),
        pytest.param("plate,state,category,source,note\n", "unknown columns 'source', 'note'", id="unknown-columns"),
        pytest.param("plate,state,category,plate\n", "column plate given more than once", id="repeated"),
        pytest.param("plate,state,category,\n", "(unnamed column 4)", id="unnamed-column"),
    ],
)
def test_header_problems_fail_the_whole_file(header: str, words: str) -> None:
    """A header with a missing, unknown or repeated column is one bad line 1, and nothing is imported."""
    results = run(csv_row(), csv_row(plate="SMC1002"), header=header)
    assert len(results) == 1
    problem = results[0]
    assert isinstance(problem, LineProblem) and (problem.line, problem.kind) == (1, "bad")
    assert words in problem.detail and "nothing was imported" in problem.detail


@pytest.mark.parametrize("lines", [[], ["\n", "  \n"]], ids=["empty", "blank-lines-only"])
def test_empty_file(lines: list[str]) -> None:
    """An empty file is one bad line 1 that asks for a header."""
    assert list(parse("csv", lines, "RMS")) == [
        LineProblem(1, "bad", "the file is empty; a hot-list CSV starts with a header line such as "
                              "plate,state,category,case_number")]


# --- fields -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expires_at"),
    [
        ("", None),
        ("2026-12-31", datetime(2027, 1, 1, 12, tzinfo=UTC)),
        ("2026-12-31T23:59:00-09:00", datetime(2027, 1, 1, 8, 59, tzinfo=UTC)),
        ("2026-12-31T23:59:00Z", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        ("2026-12-31 08:00:00+01:00", datetime(2026, 12, 31, 7, tzinfo=UTC)),
    ],
    ids=["blank", "date", "alaska-offset", "zulu", "space-separator"],
)
def test_expires_at(raw: str, expires_at: datetime | None) -> None:
    """expires_at is a date (through that day) or a moment with an offset, always returned in UTC."""
    record = only(csv_row(expires_at=raw))
    assert isinstance(record, ImportRecord) and record.expires_at == expires_at


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        pytest.param({"expires_at": "2026-12-31T23:59"}, "has no UTC offset", id="naive-expiry"),
        pytest.param({"expires_at": "next week"}, "is neither a date", id="unreadable-expiry"),
        pytest.param({"expires_at": "2026-02-30"}, "is neither a date", id="impossible-date"),
        pytest.param({"priority": "0"}, "priority '0' is not a number from 1", id="priority-zero"),
        pytest.param({"priority": "10"}, "priority '10'", id="priority-ten"),
        pytest.param({"priority": "high"}, "priority 'high'", id="priority-word"),
        pytest.param({"vehicle_year": "1850"}, "vehicle_year '1850' is not a year 1900-2100", id="year"),
        pytest.param({"plate": ""}, "plate is empty", id="blank-plate"),
        pytest.param({"plate": "SMC10019X"}, "is 9 characters; at most 8", id="plate-too-long"),
        pytest.param({"plate": "SM$1001"}, "characters outside A-Z and 0-9: '$'", id="plate-character"),
        pytest.param({"state": "XY"}, "state 'XY' is not a US state", id="state"),
        pytest.param({"vehicle_make": "M" * 33}, "vehicle_make is 33 characters; at most 32", id="make-too-long"),
        pytest.param({"case_number": "C" * 65}, "case_number is 65 characters; at most 64", id="case-too-long"),
        pytest.param({"description": "D" * 2001}, "description is 2001 characters; at most 2000",
                     id="description-too-long"),
        pytest.param({"vehicle_model": "Cam\x00ry"}, "vehicle_model: character 4 holds the control character U+0000",
                     id="nul"),
        pytest.param({"case_number": '"26\n001"'}, "case_number: character 3 holds the control character U+000A",
                     id="line-break-in-case-number"),
    ],
)
def test_bad_fields(fields: dict[str, str], words: str) -> None:
    """A malformed field makes the line bad, with a detail naming the field."""
    problem = run(csv_row(**fields))[0]
    assert isinstance(problem, LineProblem) and problem.kind == "bad"
    assert words in problem.detail


@pytest.mark.parametrize(
    ("raw", "priority"),
    [("", None), ("1", 1), ("9", 9), (" 5 ", 5)],
    ids=["blank", "one", "nine", "padded"],
)
def test_priority(raw: str, priority: int | None) -> None:
    """priority is 1 to 9, or None for the category's default."""
    record = only(csv_row(priority=raw))
    assert isinstance(record, ImportRecord) and record.priority == priority


def test_description_may_hold_tabs_and_line_breaks() -> None:
    """The description is prose: tabs and line breaks are kept."""
    record = only(csv_row(description='"armed;\tdangerous\r\nsecond line"'))
    assert isinstance(record, ImportRecord) and record.subject == "armed;\tdangerous\r\nsecond line"


@pytest.mark.parametrize(
    ("plate", "code"),
    [("UNKNOWN", "UNKNOWN"), ("0", "0"), ("No Tag", "NOTAG"), ("N/A", "N/A"), ("none", "NONE")],
)
def test_junk_plates_are_skipped(plate: str, code: str) -> None:
    """A plate on the skip list is skipped with its normalised form as the code."""
    problem = only(csv_row(plate=plate))
    assert isinstance(problem, LineProblem) and (problem.kind, problem.code) == ("skipped", code)


@pytest.mark.parametrize(
    ("row", "words"),
    [
        pytest.param(csv_row().replace("\n", ",extra\n"), "13 fields where the header has 12", id="too-many"),
        pytest.param("SMC1,AK,stolen_vehicle\n", "3 fields where the header has 12", id="too-few"),
    ],
)
def test_field_count(row: str, words: str) -> None:
    """A row with more or fewer fields than the header is bad."""
    problem = only(row)
    assert isinstance(problem, LineProblem) and problem.kind == "bad" and words in problem.detail


# --- line numbers and decoding ------------------------------------------------------------------------------------

def test_line_numbers_are_physical() -> None:
    """Blank lines keep their numbers and a record spanning lines is reported where it starts."""
    body = HEADER + csv_row() + "\n" + csv_row(description='"two\nlines"') + csv_row(plate="SMC1002")
    results = list(parse("csv", body, "RMS"))
    assert [r.line for r in results] == [2, 4, 6]


def test_undecodable_line_is_bad_and_parsing_goes_on() -> None:
    """A line that is not UTF-8 is bad at its own number, and the lines after it keep theirs."""
    lines = [HEADER.encode(), csv_row().encode(), csv_row(vehicle_make="Citro\xebn").encode("latin-1"),
             csv_row(plate="SMC1003").encode()]
    results = list(parse("csv", lines, "RMS"))
    assert outcome(results) == {"record": [2, 4], "bad": [3]}
    assert "holds the byte 0xEB, which is not UTF-8" in results[1].detail


def test_undecodable_header() -> None:
    """A header that is not UTF-8 fails the file."""
    results = list(parse("csv", [b"plate,state,categor\xeda\n", csv_row().encode()], "RMS"))
    assert len(results) == 1 and results[0].line == 1 and "not UTF-8" in results[0].detail


def test_byte_order_mark() -> None:
    """A spreadsheet's UTF-8 byte-order mark before the header is dropped."""
    record = only(csv_row(), header="\ufeff" + HEADER)
    assert isinstance(record, ImportRecord)


def test_crlf_line_endings() -> None:
    """Windows line endings are read like any other."""
    results = list(parse("csv", (HEADER + csv_row() + csv_row(plate="SMC2")).replace("\n", "\r\n").encode(), "RMS"))
    assert outcome(results) == {"record": [2, 3]}
