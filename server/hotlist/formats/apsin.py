"""APSIN/RMS export (format ``"apsin"``).

A layout of our own design for the hot-list exports of APSIN (the Alaska Public Safety Information Network) and of a
department's records management system: pipe-delimited (``|``; values cannot contain one and are not quoted),
UTF-8 or ASCII, one record per line. Line 1 is a header naming all fourteen columns below, in any order; a header
with a missing, repeated or unknown column fails the whole file (one ``"bad"`` problem on line 1), as in the CSV
format. Surrounding blanks in values are ignored. Dates are ``MM/DD/YYYY``, as APSIN screens show them.

==========  ========  ================================================================================================
column      required  value
==========  ========  ================================================================================================
REC_TYPE    yes       record type (table below)
AGENCY      no        the agency that owns the record (``APD``, ``AST``, ``JPD`` ...); named in the justification
CASE_NO     yes       the agency's case or warrant number, at most 64 characters -> case_number
PLATE       no        plate; normalised; blank = no plate (a VIN-only record): skipped
PLATE_ST    no        plate state (code or name); blank = unknown
PLATE_YR    no        registration year; informational, not loaded
VEH_YR      no        vehicle year, 1900-2100
VEH_MAKE    no        vehicle make, at most 32 characters
VEH_MODEL   no        vehicle model, at most 32 characters
VEH_COLOR   no        vehicle colour, at most 32 characters
VEH_STYLE   no        vehicle style -> vehicle_type, at most 32 characters
ENTERED     yes       date the record was entered, ``MM/DD/YYYY``
EXPIRES     no        expiry date, ``MM/DD/YYYY``; the entry matches through that whole day (next day 12:00 UTC)
SUBJECT     no        the person linked (name, description); kept only for person-linked record types (for a stolen
                      vehicle it would be the owner, a victim), at most 2000 characters
==========  ========  ================================================================================================

Record types:

====  ===============================================  =================================================================
code  record                                           category
====  ===============================================  =================================================================
SV    stolen vehicle                                   stolen_vehicle
SP    stolen plate                                     stolen_plate
WR    warrant (wanted person)                          wanted_person
MP    missing person                                   missing_person
AA    Amber Alert                                      amber_alert
SA    Silver Alert                                     silver_alert
VC    RMS BOLO: vehicle involved in a violent crime    violent_crime
DD    RMS BOLO: vehicle involved in drug distribution  drug_distribution
====  ===============================================  =================================================================

Refused record types (``"refused"``, code = REC_TYPE), none of which is a purpose of policy 7.12 II:

====  ===============================================  =================================================================
DV    domestic-violence protective order (AS 18.66)    a civil order; the respondent is not wanted
SO    sex-offender registrant                          not wanted (a warrant for one is a WR record)
PP    probation / parole                               supervision is not a want (a violation warrant is a WR record)
OC    officer-caution flag                             a flag on a person's history, not a crime under investigation
GA    gang affiliation                                 association, not a crime (D.3, D.5)
IM    immigration status                               not a policy II purpose; D.3 (nationality)
FI    field-interview / contact card                   a record of being seen, not of a crime (D.2, D.5)
TN    trespass notice                                  a civil notice, not a want
====  ===============================================  =================================================================

Any other record type is bad.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

from server.hotlist.formats import (
    BAD,
    MAX_CASE_NUMBER,
    MAX_SHORT,
    STATE_CODES,
    YEARS,
    DateCache,
    ImportRecord,
    LineProblem,
    header_problems,
    new_record,
    plate_or_problem,
    state_or_problem,
    text_problem,
    undecodable,
)
from server.hotlist.models import PERSON_LINKED

__all__ = ["COLUMNS", "RECORD_TYPES", "parse"]

COLUMNS: Final = ("REC_TYPE", "AGENCY", "CASE_NO", "PLATE", "PLATE_ST", "PLATE_YR", "VEH_YR", "VEH_MAKE",
                  "VEH_MODEL", "VEH_COLOR", "VEH_STYLE", "ENTERED", "EXPIRES", "SUBJECT")
MAX_SUBJECT: Final = 2000


@dataclass(frozen=True, slots=True)
class RecordType:
    """An APSIN/RMS record type and what it becomes (``category``) or why it is refused."""

    code: str
    label: str
    category: str | None = None
    refused: str | None = None


_LOADED = [
    RecordType("SV", "stolen vehicle", "stolen_vehicle"),
    RecordType("SP", "stolen plate", "stolen_plate"),
    RecordType("WR", "warrant", "wanted_person"),
    RecordType("MP", "missing person", "missing_person"),
    RecordType("AA", "Amber Alert", "amber_alert"),
    RecordType("SA", "Silver Alert", "silver_alert"),
    RecordType("VC", "violent-crime BOLO", "violent_crime"),
    RecordType("DD", "drug-distribution BOLO", "drug_distribution"),
]
_REFUSED = [
    RecordType("DV", "domestic-violence protective order",
               refused="a protective order's respondent is not wanted; not a policy II purpose"),
    RecordType("SO", "sex-offender registrant",
               refused="a registrant is not wanted (a warrant is a WR record); not a policy II purpose"),
    RecordType("PP", "probation/parole",
               refused="supervision is not a want (a violation warrant is a WR record); not a policy II purpose"),
    RecordType("OC", "officer caution",
               refused="a caution flag is not a crime under investigation; not a policy II purpose"),
    RecordType("GA", "gang affiliation",
               refused="affiliation is association, not a crime or a policy II purpose (D.3, D.5)"),
    RecordType("IM", "immigration status",
               refused="immigration status is not a policy II purpose, and D.3 forbids use by nationality"),
    RecordType("FI", "field interview",
               refused="a contact card records being seen, not a crime; not a policy II purpose (D.2, D.5)"),
    RecordType("TN", "trespass notice", refused="a civil notice is not a want; not a policy II purpose"),
]
#: Every record type this layout knows, loaded or refused.
RECORD_TYPES: Final[dict[str, RecordType]] = {t.code: t for t in (*_LOADED, *_REFUSED)}
_KNOWN = ", ".join(t.code for t in _LOADED)
_REFUSED_CODES = ", ".join(t.code for t in _REFUSED)


def _unknown_type(typ: str) -> str:
    if not typ.strip():
        return "REC_TYPE is blank"
    return f"unknown record type {typ.strip()!r}; known: {_KNOWN} (and the refused {_REFUSED_CODES})"


def _header(n: int, line: str) -> tuple[list[str], LineProblem | None]:
    raw = line.split("|")
    names = [name.strip().upper() for name in raw]
    problems = header_problems(raw, names, COLUMNS, COLUMNS)
    if problems:
        return names, LineProblem(n, "bad", f"header: {'; '.join(problems)}. An APSIN/RMS export's first line names "
                                            f"these columns: {'|'.join(COLUMNS)}; nothing was imported")
    return names, None


def parse(lines: Iterable[str], source: str, skip: frozenset[str]) -> Iterator[ImportRecord | LineProblem]:
    """Records and problems from the lines of an APSIN/RMS export (see the module docstring)."""
    it = iter(lines)
    n = 0
    names: list[str] | None = None
    try:
        for n, line in enumerate(it, 1):
            if line.strip():
                names, problem = _header(n, line.strip())
                if problem is not None:
                    yield problem
                    return
                break
    except UnicodeDecodeError as exc:
        yield LineProblem(n + 1, "bad", f"header: {undecodable(exc)}; nothing was imported")
        return
    if names is None:
        yield LineProblem(1, "bad", "the file is empty; an APSIN/RMS export starts with the header "
                                    f"{'|'.join(COLUMNS)}")
        return

    ncols = len(names)
    pick = itemgetter(*(names.index(c) for c in COLUMNS))
    states_get, years_get = STATE_CODES.get, YEARS.get
    person_linked = PERSON_LINKED
    dates = DateCache("MM/DD/YYYY")
    entered_get, expiry_get = dates.dates.get, dates.expiries.get
    types_get = RECORD_TYPES.get
    bad = BAD
    prefix = f"{source} export" if source in ("APSIN", "RMS") else f"APSIN/RMS export from {source}"

    while True:  # restarted after a line that is not UTF-8 (the iterator stays usable)
        first = n + 1
        try:
            for n, line in enumerate(it, first):
                line = line.rstrip()
                if not line:
                    continue
                if not line.isprintable():
                    yield LineProblem(n, "bad", text_problem(line) or "line is not plain text")
                    continue
                fields = line.split("|")
                if len(fields) != ncols:
                    yield LineProblem(n, "bad", f"{len(fields)} fields where the header has {ncols}; values may "
                                                "not contain '|'")
                    continue
                (typ, agency, case, plate_raw, state_raw, _plate_year, year_raw, make, model, color, style,
                 entered_raw, expires_raw, subject) = pick(fields)

                kind = types_get(typ)
                if kind is None:
                    kind = types_get(typ.strip().upper())
                    if kind is None:
                        yield LineProblem(n, "bad", _unknown_type(typ))
                        continue
                if kind.refused is not None:
                    yield LineProblem(n, "refused", f"{prefix}, record type {kind.code} ({kind.label}): "
                                                    f"{kind.refused}", kind.code)
                    continue
                category = kind.category

                plate = plate_raw
                if plate.isalnum() and plate.isascii() and len(plate) <= 8:
                    plate = plate.upper()
                else:
                    plate, problem = plate_or_problem(plate_raw)
                    if not plate:
                        yield LineProblem(n, "skipped", "no plate (PLATE is blank): nothing for a camera to match",
                                          "")
                        continue
                    if problem is not None and plate not in skip:
                        yield LineProblem(n, "bad", problem)
                        continue
                if plate in skip:
                    yield LineProblem(n, "skipped", f"plate {plate!r} is on the skip list of junk plates", plate)
                    continue

                state = states_get(state_raw, bad)
                if state is bad:
                    state, problem = state_or_problem(state_raw)
                    if problem is not None:
                        yield LineProblem(n, "bad", problem)
                        continue

                case = case.strip()
                if not case:
                    yield LineProblem(n, "bad", "CASE_NO is blank; every record needs its case or warrant number")
                    continue

                entered = entered_get(entered_raw, bad)
                if entered is bad or entered is None:
                    entered = dates.date(entered_raw)
                    if entered is bad:
                        yield LineProblem(n, "bad", f"ENTERED {entered_raw.strip()!r} is not a valid date MM/DD/YYYY")
                        continue
                    if entered is None:
                        yield LineProblem(n, "bad", "ENTERED is blank; the date of entry is required")
                        continue
                expires = expiry_get(expires_raw, bad)
                if expires is bad:
                    expires = dates.expiry(expires_raw)
                    if expires is bad:
                        yield LineProblem(n, "bad", f"EXPIRES {expires_raw.strip()!r} is not a valid date MM/DD/YYYY "
                                                    "(leave it blank for no expiry)")
                        continue

                year = years_get(year_raw, bad)
                if year is bad:
                    year = years_get(year_raw.strip(), bad)
                    if year is bad:
                        yield LineProblem(n, "bad", f"VEH_YR {year_raw.strip()!r} is not a year 1900-2100")
                        continue

                make, model, color, style = make.strip(), model.strip(), color.strip(), style.strip()
                subject = subject.strip() if category in person_linked else ""
                if (len(case) > MAX_CASE_NUMBER or len(subject) > MAX_SUBJECT
                        or max(len(make), len(model), len(color), len(style)) > MAX_SHORT):
                    yield LineProblem(n, "bad", _length_problem(case, make, model, color, style, subject))
                    continue

                agency = agency.strip()
                yield new_record(
                    n, plate, state, category, source, case,
                    f"{prefix}, {kind.label} record, {agency + ' ' if agency else ''}case {case}, "
                    f"entered {entered[1]}",  # type: ignore[index]
                    entered[0], expires, None, year,  # type: ignore[index]
                    make or None, model or None, color or None, style or None, subject or None,
                )
            return
        except UnicodeDecodeError as exc:
            n += 1
            yield LineProblem(n, "bad", undecodable(exc))


def _length_problem(case: str, make: str, model: str, color: str, style: str, subject: str) -> str:
    for name, value, limit in (("CASE_NO", case, MAX_CASE_NUMBER), ("VEH_MAKE", make, MAX_SHORT),
                               ("VEH_MODEL", model, MAX_SHORT), ("VEH_COLOR", color, MAX_SHORT),
                               ("VEH_STYLE", style, MAX_SHORT), ("SUBJECT", subject, MAX_SUBJECT)):
        if len(value) > limit:
            return f"{name} is {len(value)} characters; at most {limit} are allowed"
    return "a field is too long"  # pragma: no cover - only called when one is
