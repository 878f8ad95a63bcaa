"""NCIC-style fixed-width hot-list extract (format ``"ncic"``).

A layout of our own design, modelled on the records of the NCIC Vehicle, License Plate, Wanted Person and Missing
Person files as state control terminals hand them to LPR systems: one record per line, 100 columns, fields
left-justified and blank-padded, field names after the NCIC message field codes. Trailing blanks may be trimmed
(a short line is padded back); a line longer than 100 columns is bad. ASCII or UTF-8.

====  =======  =====  ====================================================================================
col   field    width  meaning
====  =======  =====  ====================================================================================
1     TYP      4      list-type code (table below); required
5     LIC      10     licence plate; separators and blanks are dropped (normalised), at most 8 characters
                      remain; blank = no plate (a VIN-only record): skipped
15    LIS      2      plate state (US state, territory, Canadian province; NCIC's old ``PQ``/``NF`` are
                      read as QC/NL); blank, ``XX`` or ``??`` = unknown
17    LIY      4      plate (registration) year; informational, not loaded
21    VYR      4      vehicle year, 1900-2100, or blank
25    VMA      4      vehicle make (NCIC make code, e.g. ``TOYT``, ``CHEV``)
29    VMO      3      vehicle model (e.g. ``CAM``, ``TAC``)
32    VCO      7      vehicle colour, ``BLK`` or two-tone ``BLK/WHI``
39    VST      2      vehicle style (e.g. ``4D``, ``PK``, ``SW``) -> vehicle_type
41    NIC      10     NCIC number: a letter and nine digits, e.g. ``V123456789``; required -> case_number
51    DOE      8      date of entry, ``YYYYMMDD``; required
59    EXP      8      expiry date, ``YYYYMMDD``, or blank (no expiry); the entry matches through that whole day
                      (expires_at = next day 12:00 UTC)
67    OFF      4      NCIC offence code; required for ``FV``, optional otherwise
71    NAM      30     subject's name, ``LAST, FIRST M``; kept only for person-linked list types (for a stolen
                      vehicle or plate it would be the owner, a victim, so it is dropped)
====  =======  =====  ====================================================================================

List types (NCIC file and record kind -> category):

====  ========================================  ==================================================================
TYP   NCIC file / record                        category
====  ========================================  ==================================================================
V     Vehicle File, stolen vehicle              stolen_vehicle
LP    License Plate File, stolen plate          stolen_plate
FV    Vehicle File, felony vehicle              by OFF: 0900-1399 (homicide, kidnapping, sexual assault, robbery,
                                                assault) -> violent_crime; 3500-3599 (dangerous drugs) ->
                                                drug_distribution; any other offence -> refused (a vehicle
                                                wanted for burglary, fraud ... is not one of policy II's purposes
                                                that our categories carry); blank OFF -> bad
W     Wanted Person File                        wanted_person (refused if OFF is 03xx, an immigration offence)
MP    Missing Person File (any kind)            missing_person; also MPD (disability), MPE (endangered), MPI
                                                (involuntary), MPJ (juvenile), MPV (catastrophe victim), MPO
                                                (other), after NCIC's EMD/EME/EMI/EMJ/EMV/EMO
AA    Missing Person File, Amber Alert          amber_alert
SA    Missing Person File, Silver Alert         silver_alert
====  ========================================  ==================================================================

Refused list types (``LineProblem`` kind ``"refused"``, code = TYP): each has no place in policy II's purposes
(stolen or wanted vehicles, missing persons, violent crime, drug distribution), and several would list people for
who they are or whom they associate with (D.3, D.5):

====  ========================================  ==================================================================
IV    Immigration Violator File                 immigration status is not a policy II purpose; D.3 (nationality)
GM    Gang File (group member)                  membership is not a crime; association, D.3/D.5
KST   Known or Suspected Terrorist File         a watch-list entry, not a want or any other policy II purpose
PO    Protection Order File                     a civil order; the respondent is not wanted
SO    National Sex Offender Registry            a registrant is not wanted (a warrant for one comes as W)
SR    Supervised Release File                   probation/parole is not a want (a violation warrant comes as W)
VP    Violent Person File                       an officer-safety flag on a person's history, not a vehicle in a
                                                violent crime under investigation (those come with a case number,
                                                from RMS); listing them would be tracking a class of people (D.2)
PI    Protective Interest File                  persons of interest to a protective agency; no policy II purpose
ID    Identity Theft File                       the people in it are victims
====  ========================================  ==================================================================

Any other TYP is bad (an unknown code is never guessed at).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from server.hotlist.formats import (
    BAD,
    CATEGORY_LABELS,
    STATE_CODES,
    YEARS,
    DateCache,
    ImportRecord,
    LineProblem,
    RecordBuilder,
    plate_or_problem,
    state_or_problem,
    text_problem,
    undecodable,
)
from server.hotlist.models import PERSON_LINKED

__all__ = ["LIST_TYPES", "WIDTH", "parse"]

#: Columns of the layout, 1-based inclusive, as documented above.
COLUMNS: Final[dict[str, tuple[int, int]]] = {
    "TYP": (1, 4), "LIC": (5, 14), "LIS": (15, 16), "LIY": (17, 20), "VYR": (21, 24), "VMA": (25, 28),
    "VMO": (29, 31), "VCO": (32, 38), "VST": (39, 40), "NIC": (41, 50), "DOE": (51, 58), "EXP": (59, 66),
    "OFF": (67, 70), "NAM": (71, 100),
}
WIDTH: Final = 100

_TYP, _LIC, _LIS, _LIY, _VYR, _VMA, _VMO, _VCO, _VST, _NIC, _DOE, _EXP, _OFF, _NAM = (
    slice(first - 1, last) for first, last in COLUMNS.values())


@dataclass(frozen=True, slots=True)
class ListType:
    """An NCIC list-type code: the file it comes from and what it becomes (``category``) or why it is refused."""

    code: str
    file: str
    category: str | None = None
    refused: str | None = None
    by_offence: bool = False  # refused for an immigration offence (OFF 03xx)


_LOADED = [
    ListType("V", "stolen vehicle file", "stolen_vehicle"),
    ListType("LP", "stolen license plate file", "stolen_plate"),
    ListType("FV", "felony vehicle file"),  # category from the offence code
    ListType("W", "wanted person file", "wanted_person", by_offence=True),
    ListType("MP", "missing person file", "missing_person"),
    ListType("MPD", "missing person file (disability)", "missing_person"),
    ListType("MPE", "missing person file (endangered)", "missing_person"),
    ListType("MPI", "missing person file (involuntary)", "missing_person"),
    ListType("MPJ", "missing person file (juvenile)", "missing_person"),
    ListType("MPV", "missing person file (catastrophe victim)", "missing_person"),
    ListType("MPO", "missing person file (other)", "missing_person"),
    ListType("AA", "missing person file, Amber Alert", "amber_alert"),
    ListType("SA", "missing person file, Silver Alert", "silver_alert"),
]
_REFUSED = [
    ListType("IV", "Immigration Violator File",
             refused="immigration status is not a purpose of policy 7.12 II, and D.3 forbids use by nationality"),
    ListType("GM", "Gang File",
             refused="gang membership is association, not a crime or a policy II purpose (D.3, D.5)"),
    ListType("KST", "Known or Suspected Terrorist File",
             refused="a watch-list entry is not a want or any other policy II purpose"),
    ListType("PO", "Protection Order File",
             refused="a protection order's respondent is not wanted; not a policy II purpose"),
    ListType("SO", "National Sex Offender Registry",
             refused="a registrant is not wanted (a warrant comes as W); not a policy II purpose"),
    ListType("SR", "Supervised Release File",
             refused="probation or parole is not a want (a violation warrant comes as W); not a policy II purpose"),
    ListType("VP", "Violent Person File",
             refused="an officer-safety flag on a person's history is not a vehicle in a violent crime under "
                     "investigation (policy II; D.2); list such vehicles from RMS with a case number"),
    ListType("PI", "Protective Interest File", refused="not a policy II purpose"),
    ListType("ID", "Identity Theft File", refused="the people in it are victims; not a policy II purpose"),
]
#: Every list-type code this layout knows, loaded or refused.
LIST_TYPES: Final[dict[str, ListType]] = {t.code: t for t in (*_LOADED, *_REFUSED)}
# Keyed by the raw 4-column field, so the hot loop looks the slice up without stripping it.
_BY_FIELD: Final[dict[str, ListType]] = {code.ljust(4): t for code, t in LIST_TYPES.items()}
_KNOWN = ", ".join(t.code for t in _LOADED)

#: NCIC's older state codes for two Canadian provinces.
_NCIC_STATES: Final[dict[str, str | None]] = {**STATE_CODES, "PQ": "QC", "NF": "NL"}

#: Offence-code groups of a felony vehicle that policy II covers (first two digits of OFF).
_FV_GROUPS: Final[dict[str, str]] = {
    **dict.fromkeys(("09", "10", "11", "12", "13"), "violent_crime"),  # homicide, kidnap, sex assault, robbery, assault
    "35": "drug_distribution",  # dangerous drugs
}
#: Immigration offences (NCIC 0301-0399): refused on any list type.
_IMMIGRATION_GROUP: Final = "03"


def _unknown_type(field: str) -> str:
    code = field.strip()
    if not code:
        return "list-type code (columns 1-4) is blank"
    return (f"unknown list-type code {code!r} in columns 1-4; known: {_KNOWN} "
            f"(and the refused {', '.join(t.code for t in _REFUSED)})")


def parse(lines: Iterable[str], source: str, skip: frozenset[str]) -> Iterator[ImportRecord | LineProblem]:
    """Records and problems from the lines of an NCIC-style extract (see the module docstring).

    Every field that is loaded is checked (a control character or a byte that is not UTF-8 in one makes the line
    bad); the columns that are not loaded (LIY, and OFF outside FV and W) are not looked at.
    """
    types_get = _BY_FIELD.get
    states_get = _NCIC_STATES.get
    person_linked = PERSON_LINKED
    # Per-file caches of the fields that repeat: the dates, and the vehicle descriptions.
    dates = DateCache("YYYYMMDD")
    date_pairs: dict[str, object] = {}
    date_pairs_get = date_pairs.get
    vehicles: dict[str, object] = {}
    vehicles_get = vehicles.get
    looks: dict[str, object] = {}
    looks_get = looks.get
    fv_cache: dict[str, tuple[str, str] | LineProblem] = {}
    bad = BAD
    width = WIDTH
    min_width = _DOE.stop
    immigration = _IMMIGRATION_GROUP
    new = object.__new__

    it = iter(lines)
    n = 0
    while True:  # restarted after a line that is not UTF-8 (the iterator stays usable)
        first = n + 1
        try:
            for n, line in enumerate(it, first):
                line = line.rstrip()
                size = len(line)
                if size < min_width:  # trailing optional fields may be trimmed; pad a line that ends earlier
                    if not size:
                        continue
                    line = line.ljust(width)
                elif size > width:
                    yield _bad(n, line, f"line is {size} columns long; the NCIC layout has {width} "
                                        f"(columns {width + 1}- hold {line[width:width + 20]!r})")
                    continue

                # List type: policy first, so a refused record is counted whatever else is wrong with it.
                kind = types_get(line[_TYP])
                if kind is None:
                    yield _bad(n, line, _unknown_type(line[_TYP]))
                    continue
                category = kind.category
                if category is None:
                    if kind.refused is not None:
                        yield LineProblem(n, "refused", f"NCIC list type {kind.code} ({kind.file}): {kind.refused}",
                                          kind.code)
                        continue
                    # FV: the offence decides.
                    off = line[_OFF]
                    fv = fv_cache.get(off)
                    if fv is None:
                        fv = fv_cache[off] = _felony_vehicle(off)
                    if fv.__class__ is LineProblem:
                        yield LineProblem(n, fv.kind, fv.detail, fv.code)  # type: ignore[union-attr]
                        continue
                    category, file = fv  # type: ignore[misc]
                else:
                    file = kind.file
                    if kind.by_offence and line[_OFF][:2] == immigration:
                        yield LineProblem(n, "refused", f"NCIC list type {kind.code} for immigration offence "
                                                        f"{line[_OFF].strip()}: immigration enforcement is not a "
                                                        "purpose of policy 7.12 II (D.3)", kind.code)
                        continue

                # Plate: the common case is already clean ASCII; anything else goes through server.common.plates.
                raw = line[_LIC]
                plate = raw.rstrip()
                if plate.isalnum() and plate.isascii() and len(plate) <= 8:
                    plate = plate.upper()
                else:
                    plate, problem = plate_or_problem(raw)
                    if not plate:
                        yield LineProblem(n, "skipped", "no plate (columns 5-14 blank): nothing for a camera to match",
                                          "")
                        continue
                    if problem is not None and plate not in skip:
                        yield _bad(n, line, f"columns 5-14: {problem}")
                        continue
                if plate in skip:
                    yield LineProblem(n, "skipped", f"plate {plate!r} is on the skip list of junk plates", plate)
                    continue

                state = states_get(line[_LIS], bad)
                if state is bad:
                    state, problem = state_or_problem(line[_LIS])
                    if problem is not None:
                        yield _bad(n, line, f"columns 15-16: {problem}")
                        continue

                nic = line[_NIC]
                if not (nic[1:].isdigit() and nic[0].isalpha() and nic.isascii()):
                    yield _bad(n, line, f"NIC {nic.strip()!r} in columns 41-50 is not a letter and nine digits")
                    continue

                raw = line[_DATES]
                when = date_pairs_get(raw)
                if when is None:
                    when = _dates(dates, raw)
                    if when.__class__ is str:
                        yield _bad(n, line, when)  # type: ignore[arg-type]
                        continue
                    if len(date_pairs) < _CACHE_LIMIT:
                        date_pairs[raw] = when
                entered, entered_iso, expires = when  # type: ignore[misc]

                raw = line[_VEHICLE]
                vehicle = vehicles_get(raw)
                if vehicle is None:
                    vehicle = _vehicle(raw)
                    if vehicle.__class__ is str:
                        yield _bad(n, line, vehicle)  # type: ignore[arg-type]
                        continue
                    if len(vehicles) < _CACHE_LIMIT:
                        vehicles[raw] = vehicle
                year, make, model = vehicle  # type: ignore[misc]
                raw = line[_LOOK]
                look = looks_get(raw)
                if look is None:
                    look = _look(raw)
                    if look.__class__ is str:
                        yield _bad(n, line, look)  # type: ignore[arg-type]
                        continue
                    if len(looks) < _CACHE_LIMIT:
                        looks[raw] = look
                color, style = look  # type: ignore[misc]

                if category in person_linked:
                    subject = line[_NAM].strip() or None
                    if subject is not None and not subject.isprintable():
                        yield _bad(n, line, "columns 71-100 (NAM) are not plain text")
                        continue
                else:
                    subject = None

                # new_record(...) without the call (see RecordBuilder): a tenth of the time per line.
                record = new(RecordBuilder)
                record.line = n
                record.plate = plate
                record.state = state
                record.category = category
                record.source = source
                record.case_number = nic
                record.justification = f"NCIC {file}, NIC {nic}, entered {entered_iso}"
                record.entered_at = entered
                record.expires_at = expires
                record.priority = None
                record.vehicle_year = year
                record.vehicle_make = make
                record.vehicle_model = model
                record.vehicle_color = color
                record.vehicle_type = style
                record.subject = subject
                record.__class__ = ImportRecord
                yield record
            return
        except UnicodeDecodeError as exc:
            n += 1
            yield LineProblem(n, "bad", undecodable(exc))


# Groups of adjacent fields that are cached together.
_DATES = slice(_DOE.start, _EXP.stop)
_VEHICLE = slice(_VYR.start, _VMO.stop)
_LOOK = slice(_VCO.start, _VST.stop)
_CACHE_LIMIT: Final = 100_000


def _bad(n: int, line: str, detail: str) -> LineProblem:
    """A bad line; a control character or undecodable byte in it is named first, as the likelier cause."""
    return LineProblem(n, "bad", text_problem(line) or detail)


def _dates(dates: DateCache, raw: str) -> tuple[object, str, object] | str:
    """(entered, entered ISO, expires) from columns 51-66, or why not."""
    entered = dates.date(raw[:8])
    if entered is BAD:
        return f"date of entry {raw[:8].strip()!r} in columns 51-58 is not a valid date YYYYMMDD"
    if entered is None:
        return "date of entry (columns 51-58) is blank; it is required"
    expires = dates.expiry(raw[8:])
    if expires is BAD:
        return f"expiry date {raw[8:].strip()!r} in columns 59-66 is not a valid date YYYYMMDD (leave it blank for none)"
    return entered[0], entered[1], expires  # type: ignore[index]


def _vehicle(raw: str) -> tuple[int | None, str | None, str | None] | str:
    """(year, make, model) from columns 21-31, or why not."""
    year = YEARS.get(raw[:4].strip(), BAD)
    if year is BAD:
        return f"vehicle year {raw[:4].strip()!r} in columns 21-24 is not a year 1900-2100"
    if not raw.isprintable():
        return "columns 25-31 (VMA, VMO) are not plain text"
    return year, raw[4:8].strip() or None, raw[8:].strip() or None  # type: ignore[return-value]


def _look(raw: str) -> tuple[str | None, str | None] | str:
    """(colour, style) from columns 32-40, or why not."""
    if not raw.isprintable():
        return "columns 32-40 (VCO, VST) are not plain text"
    return raw[:7].strip() or None, raw[7:].strip() or None


def _felony_vehicle(off: str) -> tuple[str, str] | LineProblem:
    """(category, file label) for a felony vehicle with offence code ``off``, or the problem (line 0) to report."""
    code = off.strip()
    if not code:
        return LineProblem(0, "bad", "felony vehicle (FV) without an offence code in columns 67-70; the offence "
                                     "decides whether it is a violent-crime or drug-distribution vehicle")
    if not (len(code) == 4 and code.isdigit() and code.isascii()):
        return LineProblem(0, "bad", f"offence code {code!r} in columns 67-70 is not four digits")
    category = _FV_GROUPS.get(code[:2])
    if category is None:
        return LineProblem(0, "refused", f"NCIC felony vehicle for offence {code} fits no category of policy "
                                         "7.12 II: only violent crime (offences 0900-1399) and drug distribution "
                                         "(3500-3599) are loaded", "FV")
    return category, f"felony vehicle file ({CATEGORY_LABELS[category]}, offence {code})"
