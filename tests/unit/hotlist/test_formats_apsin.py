"""Unit tests for server.hotlist.formats.apsin, the pipe-delimited APSIN/RMS export."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from server.hotlist.formats import ImportRecord, LineProblem, parse
from server.hotlist.formats.apsin import COLUMNS, RECORD_TYPES
from server.hotlist.models import CATEGORIES, PERSON_LINKED

SAMPLE = Path(__file__).resolve().parents[3] / "server" / "hotlist" / "samples" / "apsin-sample.txt"
HEADER = "|".join(COLUMNS) + "\n"
VALID = {"REC_TYPE": "SV", "AGENCY": "APD", "CASE_NO": "26-005101", "PLATE": "SMA1001", "PLATE_ST": "AK",
         "PLATE_YR": "2026", "VEH_YR": "2018", "VEH_MAKE": "TOYT", "VEH_MODEL": "CAM", "VEH_COLOR": "BLK",
         "VEH_STYLE": "4D", "ENTERED": "01/05/2026", "EXPIRES": "", "SUBJECT": ""}


def apsin_row(**fields: str) -> str:
    """One record line in HEADER's column order: VALID with ``fields`` replaced."""
    values = {**VALID, **fields}
    return "|".join(values[c] for c in COLUMNS) + "\n"


def run(*rows: str, header: str = HEADER, source: str = "APSIN") -> list[ImportRecord | LineProblem]:
    """Parse HEADER (or ``header``) and ``rows`` as an APSIN/RMS export."""
    return list(parse("apsin", [header, *rows], source))


def only(*rows: str, header: str = HEADER, source: str = "APSIN") -> ImportRecord | LineProblem:
    """The single result of parsing ``rows``."""
    results = run(*rows, header=header, source=source)
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
    "record": list(range(2, 16)),
    "refused": list(range(16, 21)),
    "skipped": list(range(21, 24)),
    "bad": list(range(24, 30)),
}


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda p: p.open("rb"), id="binary-file"),
        pytest.param(lambda p: p.read_text(encoding="utf-8").splitlines(keepends=True), id="text-lines"),
        pytest.param(lambda p: p.read_bytes(), id="whole-body-bytes"),
    ],
)
def test_sample_file_outcome(read) -> None:
    """The APSIN sample loads, refuses, skips and rejects exactly the lines the README lists."""
    source = read(SAMPLE)
    try:
        results = list(parse("apsin", source, "APSIN"))
    finally:
        if hasattr(source, "close"):
            source.close()
    assert outcome(results) == SAMPLE_OUTCOME


def test_sample_file_refusals_by_code() -> None:
    """Refusals in the sample are counted by record type."""
    with SAMPLE.open("rb") as f:
        refused = Counter(r.code for r in parse("apsin", f, "APSIN")
                          if isinstance(r, LineProblem) and r.kind == "refused")
    assert refused == {"DV": 1, "SO": 1, "GA": 1, "IM": 1, "FI": 1}


def test_sample_file_categories() -> None:
    """The sample's loaded lines cover every category."""
    with SAMPLE.open("rb") as f:
        categories = {r.category for r in parse("apsin", f, "APSIN") if isinstance(r, ImportRecord)}
    assert categories == set(CATEGORIES)


# --- a whole record -----------------------------------------------------------------------------------------------

def test_full_record() -> None:
    """Every column lands in its field."""
    row = apsin_row(REC_TYPE="WR", AGENCY=" AST ", CASE_NO="W-26-0301", PLATE="sma-301", PLATE_ST="Alaska",
                    VEH_COLOR="RED/WHI", VEH_STYLE="PK", ENTERED="01/15/2026", EXPIRES="12/31/2026",
                    SUBJECT="ROE, RICHARD; felony assault warrant")
    assert only(row) == ImportRecord(
        line=2, plate="SMA301", state="AK", category="wanted_person", source="APSIN", case_number="W-26-0301",
        justification="APSIN export, warrant record, AST case W-26-0301, entered 2026-01-15",
        entered_at=date(2026, 1, 15), expires_at=datetime(2027, 1, 1, 12, tzinfo=UTC), priority=None,
        vehicle_year=2018, vehicle_make="TOYT", vehicle_model="CAM", vehicle_color="RED/WHI", vehicle_type="PK",
        subject="ROE, RICHARD; felony assault warrant")


@pytest.mark.parametrize(
    ("source", "agency", "justification"),
    [
        ("APSIN", "APD", "APSIN export, stolen vehicle record, APD case 26-005101, entered 2026-01-05"),
        ("RMS", "APD", "RMS export, stolen vehicle record, APD case 26-005101, entered 2026-01-05"),
        ("RMS", "", "RMS export, stolen vehicle record, case 26-005101, entered 2026-01-05"),
        ("NCIC", "APD", "APSIN/RMS export from NCIC, stolen vehicle record, APD case 26-005101, entered 2026-01-05"),
    ],
    ids=["apsin", "rms", "no-agency", "other-source"],
)
def test_justification(source: str, agency: str, justification: str) -> None:
    """The justification names the export, the record type, the agency's case and the entry date."""
    record = only(apsin_row(AGENCY=agency), source=source)
    assert isinstance(record, ImportRecord) and record.justification == justification


def test_header_in_any_order() -> None:
    """The header's columns may come in any order and any case."""
    names = list(reversed(COLUMNS))
    header = "|".join(n.lower() for n in names) + "\n"
    row = "|".join(VALID[n] for n in names) + "\n"
    record = only(row, header=header)
    assert isinstance(record, ImportRecord) and (record.plate, record.case_number) == ("SMA1001", "26-005101")


# --- record types -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typ", "category"),
    [("SV", "stolen_vehicle"), ("SP", "stolen_plate"), ("WR", "wanted_person"), ("MP", "missing_person"),
     ("AA", "amber_alert"), ("SA", "silver_alert"), ("VC", "violent_crime"), ("DD", "drug_distribution"),
     ("sv", "stolen_vehicle"), (" WR ", "wanted_person")],
)
def test_loaded_record_types(typ: str, category: str) -> None:
    """Each loaded record type becomes its category (case and blanks forgiven)."""
    record = only(apsin_row(REC_TYPE=typ))
    assert isinstance(record, ImportRecord) and record.category == category


@pytest.mark.parametrize("typ", ["DV", "SO", "PP", "OC", "GA", "IM", "FI", "TN"])
def test_refused_record_types(typ: str) -> None:
    """A record type with no place in policy II is refused with its code, even if the rest is malformed."""
    for row in (apsin_row(REC_TYPE=typ), apsin_row(REC_TYPE=typ, PLATE="", CASE_NO="", ENTERED="")):
        problem = only(row)
        assert isinstance(problem, LineProblem)
        assert (problem.kind, problem.code) == ("refused", typ)
        assert "policy II" in problem.detail


def test_record_types_map_only_to_categories() -> None:
    """Every loaded record type maps to a category of requirements §2."""
    for kind in RECORD_TYPES.values():
        assert (kind.category in CATEGORIES) if kind.refused is None else kind.category is None


@pytest.mark.parametrize(
    ("typ", "subject"),
    [("SV", None), ("SP", None), ("WR", "DOE, JOHN"), ("MP", "DOE, JOHN"), ("VC", "DOE, JOHN"),
     ("DD", "DOE, JOHN")],
)
def test_subject_is_kept_only_for_person_linked_types(typ: str, subject: str | None) -> None:
    """SUBJECT is kept for person-linked record types; for a stolen car it is the owner and is dropped."""
    record = only(apsin_row(REC_TYPE=typ, SUBJECT="DOE, JOHN"))
    assert isinstance(record, ImportRecord)
    assert record.subject == subject
    assert (record.category in PERSON_LINKED) == (subject is not None)


# --- bad, skipped ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fields", "words"),
    [
        pytest.param({"REC_TYPE": "XX"}, "unknown record type 'XX'", id="unknown-type"),
        pytest.param({"REC_TYPE": ""}, "REC_TYPE is blank", id="blank-type"),
        pytest.param({"PLATE_ST": "ZZ"}, "state 'ZZ' is not a US state", id="state"),
        pytest.param({"PLATE": "SMA10019X"}, "is 9 characters; at most 8", id="plate-too-long"),
        pytest.param({"CASE_NO": " "}, "CASE_NO is blank", id="blank-case"),
        pytest.param({"CASE_NO": "C" * 65}, "CASE_NO is 65 characters; at most 64", id="case-too-long"),
        pytest.param({"ENTERED": "2026-01-05"}, "ENTERED '2026-01-05' is not a valid date MM/DD/YYYY",
                     id="iso-entry-date"),
        pytest.param({"ENTERED": "02/30/2026"}, "ENTERED '02/30/2026'", id="impossible-entry-date"),
        pytest.param({"ENTERED": ""}, "ENTERED is blank", id="blank-entry-date"),
        pytest.param({"EXPIRES": "13/01/2026"}, "EXPIRES '13/01/2026'", id="bad-expiry"),
        pytest.param({"VEH_YR": "18"}, "VEH_YR '18' is not a year 1900-2100", id="two-digit-year"),
        pytest.param({"VEH_MODEL": "M" * 33}, "VEH_MODEL is 33 characters; at most 32", id="model-too-long"),
        pytest.param({"REC_TYPE": "WR", "SUBJECT": "S" * 2001}, "SUBJECT is 2001 characters", id="subject-too-long"),
        pytest.param({"VEH_MAKE": "TO\tYT"}, "control character U+0009", id="tab"),
    ],
)
def test_bad_lines(fields: dict[str, str], words: str) -> None:
    """A malformed record is bad, with a detail naming the column and what is wrong."""
    problem = only(apsin_row(**fields))
    assert isinstance(problem, LineProblem) and problem.kind == "bad"
    assert words in problem.detail


@pytest.mark.parametrize(
    ("row", "words"),
    [
        pytest.param(apsin_row().replace("\n", "|extra\n"), "15 fields where the header has 14", id="too-many"),
        pytest.param("SV|APD|26-1|SMA1\n", "4 fields where the header has 14", id="too-few"),
    ],
)
def test_field_count(row: str, words: str) -> None:
    """A record with more or fewer fields than the header is bad."""
    problem = only(row)
    assert isinstance(problem, LineProblem) and problem.kind == "bad" and words in problem.detail


@pytest.mark.parametrize(
    ("plate", "code"),
    [("UNKNOWN", "UNKNOWN"), ("NOPLATE", "NOPLATE"), ("000", "000"), ("TEMP", "TEMP"), ("", "")],
    ids=lambda v: v or "blank",
)
def test_junk_and_missing_plates_are_skipped(plate: str, code: str) -> None:
    """A junk plate, or none (a VIN-only record), is skipped."""
    problem = only(apsin_row(PLATE=plate))
    assert isinstance(problem, LineProblem) and (problem.kind, problem.code) == ("skipped", code)


# --- header and lines ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("header", "words"),
    [
        pytest.param(HEADER.replace("|SUBJECT", ""), "missing column SUBJECT", id="missing"),
        pytest.param(HEADER.replace("SUBJECT", "SUBJECT|REMARKS"), "unknown column 'REMARKS'", id="unknown"),
        pytest.param(HEADER.replace("SUBJECT", "SUBJECT|PLATE"), "column PLATE given more than once", id="repeated"),
        pytest.param(apsin_row(), "unknown columns", id="no-header"),
    ],
)
def test_header_problems_fail_the_whole_file(header: str, words: str) -> None:
    """A header with a missing, unknown or repeated column is one bad line 1, and nothing is imported."""
    results = run(apsin_row(), header=header)
    assert len(results) == 1
    problem = results[0]
    assert isinstance(problem, LineProblem) and (problem.line, problem.kind) == (1, "bad")
    assert words in problem.detail and "nothing was imported" in problem.detail


@pytest.mark.parametrize("lines", [[], ["\n", " \n"]], ids=["empty", "blank-lines-only"])
def test_empty_file(lines: list[str]) -> None:
    """An empty file is one bad line 1 that shows the header."""
    (problem,) = parse("apsin", lines, "APSIN")
    assert isinstance(problem, LineProblem) and (problem.line, problem.kind) == (1, "bad")
    assert "the file is empty" in problem.detail and HEADER.strip() in problem.detail


def test_line_numbers_are_physical() -> None:
    """Blank lines, before the header too, keep their numbers."""
    results = list(parse("apsin", ["\n", HEADER, apsin_row(), "\n", apsin_row(PLATE="SMA2")], "APSIN"))
    assert outcome(results) == {"record": [3, 5]}


def test_undecodable_line_is_bad_and_parsing_goes_on() -> None:
    """A line that is not UTF-8 is bad at its own number, and the lines after it keep theirs."""
    lines = [HEADER.encode(), apsin_row().encode(), apsin_row(REC_TYPE="WR", SUBJECT="Jos\xe9").encode("latin-1"),
             apsin_row(PLATE="SMA3").encode()]
    results = list(parse("apsin", lines, "APSIN"))
    assert outcome(results) == {"record": [2, 4], "bad": [3]}
    assert "holds the byte 0xE9, which is not UTF-8" in results[1].detail


def test_undecodable_header() -> None:
    """A header that is not UTF-8 fails the file."""
    results = list(parse("apsin", [b"REC_TYPE|\xff\n", apsin_row().encode()], "APSIN"))
    assert len(results) == 1 and results[0].line == 1 and "not UTF-8" in results[0].detail
