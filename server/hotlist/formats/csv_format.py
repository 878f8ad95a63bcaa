"""CSV hot list (format ``"csv"``), as api-v1.md defines it.

Comma-separated, RFC 4180 quoting (a quoted field may hold commas, quotes doubled, and line breaks), UTF-8 with or
without a byte-order mark. Line 1 is a header naming the columns, in any order; names are case-insensitive and
spaces or hyphens in them read as underscores ("Vehicle Make" = ``vehicle_make``).

===============  ========  ===========================================================================================
column           required  value
===============  ========  ===========================================================================================
plate            yes       the plate; separators and blanks are dropped (normalised); A-Z, 0-9, 1-8 characters
state            yes       US state, territory or Canadian province code or name; blank = unknown
category         yes       one of requirements §2, snake_case: stolen_vehicle, stolen_plate, wanted_person,
                           missing_person, amber_alert, silver_alert, violent_crime, drug_distribution (case and
                           spaces are forgiven: "Stolen Vehicle")
case_number      no        case or incident number, at most 64 characters
expires_at       no        ISO 8601 with a UTC offset (``2026-12-31T23:59:00-09:00``, ``...Z``), or a date
                           (``2026-12-31``: matches through that day, expires_at = next day 12:00 UTC); blank = none
priority         no        1 (most urgent) to 9; blank = the category's default
vehicle_year     no        1900-2100
vehicle_make     no        at most 32 characters (as the API)
vehicle_model    no        at most 32 characters
vehicle_color    no        at most 32 characters
vehicle_type     no        at most 32 characters
description      no        description of the person linked -> subject; at most 2000 characters, may span lines
===============  ========  ===========================================================================================

A header that lacks a required column, repeats one, or names a column not in this table fails the whole file: one
``"bad"`` problem on line 1 and nothing else, since a column we do not understand (a "source", a "justification",
a shifted layout) may change what every row means. An empty file is one bad problem on line 1.

A category naming a protected class, an association or a list type policy 7.12 gives no place (immigration, gang,
sex-offender registry, protest, religion ... see ``REFUSED_TERMS``) is ``"refused"`` with the category as its code;
any other unknown category is ``"bad"`` (most likely a typo). A blank plate is bad here (a person wrote this file; in
the NCIC and APSIN extracts a blank plate is a VIN-only record and is skipped).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Final

from server.hotlist.formats import (
    BAD,
    CATEGORY_LABELS,
    MAX_CASE_NUMBER,
    MAX_SHORT,
    STATE_CODES,
    YEARS,
    ImportRecord,
    LineProblem,
    RecordBuilder,
    end_of_day_utc,
    header_problems,
    plate_or_problem,
    state_or_problem,
    text_problem,
    undecodable,
)
from server.hotlist.models import CATEGORIES

__all__ = ["COLUMNS", "OPTIONAL", "REFUSED_NAMES", "REFUSED_TERMS", "REQUIRED", "parse"]

REQUIRED: Final = ("plate", "state", "category")
OPTIONAL: Final = ("case_number", "expires_at", "priority", "vehicle_year", "vehicle_make", "vehicle_model",
                   "vehicle_color", "vehicle_type", "description")
COLUMNS: Final = (*REQUIRED, *OPTIONAL)
MAX_SUBJECT: Final = 2000

#: Words (or word beginnings) that make an unknown category a refusal rather than a typo: protected classes (D.3),
#: First Amendment activity and association (D.5), and list types with no place in policy II.
REFUSED_TERMS: Final = (
    "immigra", "alien", "deport", "undocumented", "citizen", "nationalit", "border",
    "race", "racial", "ethnic", "religio", "muslim", "jewish", "christian", "church", "mosque", "synagogue", "faith",
    "politic", "protest", "activis", "demonstrat", "union", "journalis", "press", "media", "rally", "march",
    "gender", "transgender", "lgbt", "gay", "orientation", "disab", "mental", "homeless",
    "gang", "terror", "watchlist", "associate", "affiliat", "member", "intelligence", "suspicious",
    "offender", "registr", "protect", "probation", "parole", "supervis", "caution",
)
#: Whole category names that are refused (the list types other sources refuse, as people would write them).
REFUSED_NAMES: Final = frozenset({
    "violent_person", "person_of_interest", "field_interview", "identity_theft", "trespass", "trespass_notice",
    "known_terrorist", "first_amendment",
})

_CATEGORY_SET: Final = frozenset(CATEGORIES)
_PRIORITIES: Final[dict[str, int | None]] = {"": None, **{str(p): p for p in range(1, 10)}}


def _category_key(raw: str) -> str:
    return "_".join(raw.strip().lower().replace("-", " ").split())


def _refused(key: str) -> bool:
    if key in REFUSED_NAMES:
        return True
    return any(word.startswith(term) for word in key.split("_") for term in REFUSED_TERMS)


def _category_problem(n: int, raw: str) -> tuple[str | None, LineProblem | None]:
    key = _category_key(raw)
    if key in _CATEGORY_SET:
        return key, None
    if not key:
        return None, LineProblem(n, "bad", f"category is blank; it must be one of {', '.join(CATEGORIES)}")
    if _refused(key):
        return None, LineProblem(n, "refused", f"category {raw.strip()!r} is not one of the purposes policy 7.12 II "
                                               "allows (stolen or wanted vehicles, missing persons, violent crime, "
                                               "drug distribution); no hot list may target a protected class, an "
                                               "association or First Amendment activity (D.3, D.5)", key)
    return None, LineProblem(n, "bad", f"unknown category {raw.strip()!r}; it must be one of {', '.join(CATEGORIES)}")


def _expiry(text: str) -> datetime | None | object:
    """expires_at from ISO 8601 text: a datetime with an offset, or a date; None for blank; BAD otherwise."""
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) <= 10:
            return end_of_day_utc(date.fromisoformat(text)) or BAD
        moment = datetime.fromisoformat(text)
    except ValueError:
        return BAD
    if moment.tzinfo is None:
        return BAD
    return moment.astimezone(UTC)


def _expiry_problem(raw: str) -> str:
    text = raw.strip()
    try:
        naive = datetime.fromisoformat(text).tzinfo is None
    except ValueError:
        naive = False
    if naive:
        return (f"expires_at {text!r} has no UTC offset, so the moment is ambiguous; write it as "
                f"{text}-09:00 (Alaska), {text}Z (UTC) or the like, or give just the date")
    return (f"expires_at {text!r} is neither a date (2026-12-31) nor a date and time with a UTC offset "
            "(2026-12-31T23:59:00-09:00)")


def _header(n: int, row: list[str]) -> tuple[list[str], LineProblem | None]:
    names = [_category_key(name) for name in row]
    problems = header_problems(row, names, REQUIRED, COLUMNS, missing_as="missing required column")
    if problems:
        return names, LineProblem(n, "bad", f"header: {'; '.join(problems)}. The header must name plate, state and "
                                            f"category, and may name {', '.join(OPTIONAL)}; nothing was imported")
    return names, None


def parse(lines: Iterable[str], source: str, skip: frozenset[str]) -> Iterator[ImportRecord | LineProblem]:
    """Records and problems from the lines of a hot-list CSV (see the module docstring)."""
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        while header is not None and not any(field.strip() for field in header):  # blank lines before the header
            header = next(reader, None)
    except csv.Error as exc:
        yield LineProblem(reader.line_num or 1, "bad", f"header: {exc}; nothing was imported")
        return
    except UnicodeDecodeError as exc:
        yield LineProblem(reader.line_num + 1, "bad", f"header: {undecodable(exc)}; nothing was imported")
        return
    if header is None:
        yield LineProblem(1, "bad", "the file is empty; a hot-list CSV starts with a header line such as "
                                    "plate,state,category,case_number")
        return
    names, problem = _header(reader.line_num, header)
    if problem is not None:
        yield problem
        return

    ncols = len(names)
    # Absent optional columns read as "" from one extra cell appended to each row.
    pad = any(c not in names for c in OPTIONAL)
    pick = itemgetter(*(names.index(c) if c in names else ncols for c in COLUMNS))
    states_get, years_get, prio_get = STATE_CODES.get, YEARS.get, _PRIORITIES.get
    categories = _CATEGORY_SET
    labels = CATEGORY_LABELS
    expiries: dict[str, object] = {}
    bad = BAD
    prefix = f"CSV hot-list import from {source}"
    new = object.__new__
    # reader.line_num counts the lines the reader was given; a line that could not be decoded never reached it, so
    # ``skew`` adds those back to keep line numbers physical.
    skew = 0
    prev = reader.line_num

    while True:
        try:
            for row in reader:
                n, prev = prev + 1, reader.line_num + skew
                if len(row) != ncols:
                    if not row or not "".join(row).strip():
                        continue
                    yield LineProblem(n, "bad", f"{len(row)} fields where the header has {ncols}; quote any value "
                                                "that holds a comma")
                    continue
                if not "".join(row).isprintable():
                    problem = _text_problem(row, names)
                    if problem is not None:
                        yield LineProblem(n, "bad", problem)
                        continue
                if pad:
                    row.append("")
                (plate_raw, state_raw, category, case, expires_raw, prio_raw, year_raw, make, model, color, vtype,
                 subject) = pick(row)

                if category not in categories:
                    category, problem = _category_problem(n, category)
                    if problem is not None:
                        yield problem
                        continue

                plate = plate_raw
                if plate.isalnum() and plate.isascii() and len(plate) <= 8:
                    plate = plate.upper()
                else:
                    plate, problem = plate_or_problem(plate_raw)
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

                expires = expiries.get(expires_raw, bad)
                if expires is bad:
                    expires = _expiry(expires_raw)
                    if expires is bad:
                        yield LineProblem(n, "bad", _expiry_problem(expires_raw))
                        continue
                    if len(expiries) < 100_000:
                        expiries[expires_raw] = expires

                priority = prio_get(prio_raw, bad)
                if priority is bad:
                    priority = prio_get(prio_raw.strip(), bad)
                    if priority is bad:
                        yield LineProblem(n, "bad", f"priority {prio_raw.strip()!r} is not a number from 1 (most "
                                                    "urgent) to 9")
                        continue
                year = years_get(year_raw, bad)
                if year is bad:
                    year = years_get(year_raw.strip(), bad)
                    if year is bad:
                        yield LineProblem(n, "bad", f"vehicle_year {year_raw.strip()!r} is not a year 1900-2100")
                        continue

                case = case.strip()
                make, model, color, vtype = make.strip(), model.strip(), color.strip(), vtype.strip()
                subject = subject.strip()
                # The sum bounds each length, so the usual short values need one comparison.
                if (len(case) > MAX_CASE_NUMBER or len(subject) > MAX_SUBJECT
                        or (len(make) + len(model) + len(color) + len(vtype) > MAX_SHORT
                            and max(len(make), len(model), len(color), len(vtype)) > MAX_SHORT)):
                    yield LineProblem(n, "bad", _length_problem(case, make, model, color, vtype, subject))
                    continue

                # new_record(...) without the call (see RecordBuilder).
                record = new(RecordBuilder)
                record.line = n
                record.plate = plate
                record.state = state
                record.category = category
                record.source = source
                record.case_number = case
                record.justification = (f"{prefix}, {labels[category]}, case {case}" if case else
                                        f"{prefix}, {labels[category]}, line {n} (no case number)")
                record.entered_at = None
                record.expires_at = expires
                record.priority = priority
                record.vehicle_year = year
                record.vehicle_make = make or None
                record.vehicle_model = model or None
                record.vehicle_color = color or None
                record.vehicle_type = vtype or None
                record.subject = subject or None
                record.__class__ = ImportRecord
                yield record
            return
        except csv.Error as exc:
            n, prev = prev + 1, reader.line_num + skew
            yield LineProblem(n, "bad", f"not readable as CSV: {exc}")
        except UnicodeDecodeError as exc:
            failed = reader.line_num + skew + 1
            skew += 1
            n, prev = prev + 1, failed
            # A record that had begun on an earlier line is lost with it; report it where it starts.
            yield LineProblem(n, "bad", undecodable(exc) if n == failed else f"line {failed}: {undecodable(exc)}")


def _text_problem(row: list[str], names: list[str]) -> str | None:
    """Why a row's fields are not plain text (the description may hold tabs and line breaks), or None."""
    for name, value in zip(names, row, strict=True):
        text = value.replace("\t", " ").replace("\r", " ").replace("\n", " ") if name == "description" else value
        problem = text_problem(text, "character")
        if problem is not None:
            return f"{name}: {problem}"
    return None


def _length_problem(case: str, make: str, model: str, color: str, vtype: str, subject: str) -> str:
    for name, value, limit in (("case_number", case, MAX_CASE_NUMBER), ("vehicle_make", make, MAX_SHORT),
                               ("vehicle_model", model, MAX_SHORT), ("vehicle_color", color, MAX_SHORT),
                               ("vehicle_type", vtype, MAX_SHORT), ("description", subject, MAX_SUBJECT)):
        if len(value) > limit:
            return f"{name} is {len(value)} characters; at most {limit} are allowed"
    return "a field is too long"  # pragma: no cover - only called when one is
