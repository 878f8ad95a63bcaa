"""Hot-list import formats: pure parsers from the lines of a file to records and line problems.

``parse(format, lines, source)`` turns the lines of an NCIC-style fixed-width extract (``"ncic"``), a CSV file in the
format of api-v1.md (``"csv"``) or an APSIN/RMS export (``"apsin"``) into a stream of :class:`ImportRecord` (one per
vehicle to list) and :class:`LineProblem` (one per line that is not loaded, and why). Nothing here touches a database,
Redis or the clock: loading, merging duplicates and dropping entries whose expiry has passed are the loader's work.

Policy is enforced here, at the edge (policy 7.12 II, D.3, D.5; requirements §2):

- only the categories of :data:`server.hotlist.models.CATEGORIES` can come out; a list type or category with no place
  in policy II (an immigration-violator file, a gang file, a sex-offender registry ...) is a ``"refused"`` problem
  carrying the source's code, so the loader can count refusals by code and show them, never a silent match;
- plates are normalised exactly as :func:`server.common.plates.normalize_plate` does and validated with the same
  rules (A-Z and 0-9, 1 to 8 characters); a plate on the skip list (junk such as ``"0"``, ``"UNKNOWN"``,
  ``"NOTAG"``) is a ``"skipped"`` problem; an invalid plate is ``"bad"``;
- states are US state, territory or Canadian province codes (:func:`server.common.regions.parse_region`); blank or
  an "unknown" token means ``None``; anything else is ``"bad"``.

Line numbers are 1-based physical line numbers of the file (a CSV header is line 1; a CSV record spanning lines is
reported at the line it starts on). Blank lines are ignored. ``lines`` may be bytes (decoded as UTF-8; bytes that are
not UTF-8 make that line ``"bad"``) or str, as a file object iterates them (line endings kept, which the CSV format
needs for quoted multi-line fields); a whole ``bytes``/``str`` body is split into lines here. A UTF-8 byte-order mark
on the first line is dropped.

Speed: a million NCIC lines parse in under two seconds on the 2-core development machine, a million CSV lines in
under three (``bench/parse_formats.py``). The hot loops avoid regular expressions and per-line exceptions, slice
fixed-width fields with precomputed ``slice`` objects, cache what repeats (dates, vehicle descriptions), normalise the
common plate with ``rstrip``/``isalnum``/``upper`` (anything else goes through :func:`plate_or_problem`, which agrees
with :mod:`server.common.plates` exactly) and build records through :data:`new_record`, five times faster than a
frozen dataclass's own ``__init__``.

The mapping from each source's codes to our categories, what is refused and why, the skip list and the layouts are in
``server/hotlist/formats/README.md``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from typing import Final, Literal

from server.common.plates import PLATE_MAX_LEN, normalize_plate, plate_problem
from server.common.regions import REGIONS, UNKNOWN_REGION_TOKENS, RegionError, parse_region
from server.hotlist.models import CATEGORIES, SOURCES

__all__ = [
    "CATEGORY_LABELS",
    "DEFAULT_SKIP_LIST",
    "FORMATS",
    "Format",
    "ImportRecord",
    "LineProblem",
    "ProblemKind",
    "normalize_skip_list",
    "parse",
]


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One hot-list entry read from an import file, ready for the loader.

    ``priority`` is None when the file gave none (the loader applies ``DEFAULT_PRIORITY``); ``expires_at`` is
    timezone-aware UTC or None (no expiry given).
    """

    line: int
    plate: str
    state: str | None
    category: str
    source: str
    case_number: str
    justification: str
    entered_at: date | None
    expires_at: datetime | None
    priority: int | None
    vehicle_year: int | None
    vehicle_make: str | None
    vehicle_model: str | None
    vehicle_color: str | None
    vehicle_type: str | None
    subject: str | None


ProblemKind = Literal["bad", "refused", "skipped"]


@dataclass(frozen=True, slots=True)
class LineProblem:
    """A line that is not loaded.

    ``kind``: ``"refused"`` — its list type or category has no place in policy II (``code`` is the source's code,
    for counting); ``"skipped"`` — its plate is junk on the skip list, or it has no plate at all (``code`` is the
    normalised plate); ``"bad"`` — malformed, with a ``detail`` a records clerk can act on.
    """

    line: int
    kind: ProblemKind
    detail: str
    code: str | None = None


class RecordBuilder:
    """Builds an :class:`ImportRecord` five times faster than its frozen ``__init__``.

    A frozen dataclass sets each field through ``object.__setattr__`` (about 1.6 µs for sixteen fields on the
    development machine). This class has the same slots in the same order, so its instances have the same layout;
    it sets them directly and then becomes an ImportRecord, which Python allows between classes whose instance
    layouts are identical. The result is an ordinary, frozen ImportRecord.

    Two ways to use it: :data:`new_record` (this class: all sixteen fields positionally, in field order), or, in the
    tightest loops, without the call: ``r = object.__new__(RecordBuilder)``, assign every field of ImportRecord, then
    ``r.__class__ = ImportRecord`` (a field left out would be missing from the record; the tests compare whole
    records).
    """

    __slots__ = ImportRecord.__slots__

    def __init__(self, line: int, plate: str, state: str | None, category: str, source: str, case_number: str,
                 justification: str, entered_at: date | None, expires_at: datetime | None, priority: int | None,
                 vehicle_year: int | None, vehicle_make: str | None, vehicle_model: str | None,
                 vehicle_color: str | None, vehicle_type: str | None, subject: str | None) -> None:
        self.line = line
        self.plate = plate
        self.state = state
        self.category = category
        self.source = source
        self.case_number = case_number
        self.justification = justification
        self.entered_at = entered_at
        self.expires_at = expires_at
        self.priority = priority
        self.vehicle_year = vehicle_year
        self.vehicle_make = vehicle_make
        self.vehicle_model = vehicle_model
        self.vehicle_color = vehicle_color
        self.vehicle_type = vehicle_type
        self.subject = subject
        self.__class__ = ImportRecord  # type: ignore[assignment]


if tuple(f.name for f in fields(ImportRecord)) != ImportRecord.__slots__:  # pragma: no cover - a definition error
    raise RuntimeError("ImportRecord's slots must follow its fields for the fast builder")

#: ``new_record(line, plate, state, category, source, case_number, justification, entered_at, expires_at, priority,
#: vehicle_year, vehicle_make, vehicle_model, vehicle_color, vehicle_type, subject)`` -> ImportRecord, positionally
#: in field order; for the format modules' loops.
new_record: Final[Callable[..., ImportRecord]] = RecordBuilder


# ---------------------------------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------------------------------

#: How a category reads in a generated justification.
CATEGORY_LABELS: Final[dict[str, str]] = {
    "stolen_vehicle": "stolen vehicle",
    "stolen_plate": "stolen plate",
    "wanted_person": "wanted person",
    "missing_person": "missing person",
    "amber_alert": "Amber Alert",
    "silver_alert": "Silver Alert",
    "violent_crime": "vehicle involved in violent crime",
    "drug_distribution": "vehicle involved in drug distribution",
}
if set(CATEGORY_LABELS) != set(CATEGORIES):  # pragma: no cover - a definition error
    raise RuntimeError("CATEGORY_LABELS must cover exactly server.hotlist.models.CATEGORIES")


# ---------------------------------------------------------------------------------------------------------------
# Skip list
# ---------------------------------------------------------------------------------------------------------------

def normalize_skip_list(entries: Iterable[str]) -> frozenset[str]:
    """The skip list in the form plates are compared in (normalised as plates are)."""
    return frozenset(normalize_plate(entry) for entry in entries)


#: Junk plates that list feeds carry when the plate is not known: placeholders, not plates. Listing one would make
#: every car whose plate reads as "0" or "NONE" (or any misread of one) a hit. Stored normalised; a department passes
#: its own ``skip_list`` to replace it (``DEFAULT_SKIP_LIST | {...}`` to extend it). Runs of zeros ("0" ...
#: "00000000") and of three or more X ("XXX" ... "XXXXXXXX") are placeholders; "X", "XX" and runs of nines are left
#: off because low-number and vanity plates such as "9" or "X" are issued. "NULL" is on it although a few vanity
#: plates read NULL, because exports write NULL for a missing value far more often than a listed car carries it.
DEFAULT_SKIP_LIST: Final[frozenset[str]] = normalize_skip_list([
    *("0" * n for n in range(1, PLATE_MAX_LEN + 1)),
    *("X" * n for n in range(3, PLATE_MAX_LEN + 1)),
    "UNK", "UNKN", "UNKNOWN", "UNKNWN", "UNKOWN",
    "NA", "N/A", "NONE", "NULL", "NIL",
    "NOTAG", "NOTAGS", "NOPLATE", "NOPLATES", "NOPLT", "NOLIC", "NOLP", "NOREG",
    "MISSING", "NOTAVAIL",
    "TEMP", "TEMPTAG", "TEMPPLT", "PAPER", "PAPERTAG", "DEALER", "INTRANS",
    "?", "??", "???",
])


# ---------------------------------------------------------------------------------------------------------------
# Helpers shared by the format modules (not part of the public API)
# ---------------------------------------------------------------------------------------------------------------

#: Marks a failed lookup where None is a valid value.
BAD: Final = object()

# ASCII-only normalisation, identical to normalize_plate for ASCII input: drop the ASCII separators ("-", ".") and
# every ASCII character str.split() treats as whitespace, and upper-case a-z. Non-ASCII characters pass through
# unchanged, so a result that is not pure ASCII sends the plate down the full path.
PLATE_TABLE: Final = str.maketrans(
    {**{chr(c): chr(c - 32) for c in range(ord("a"), ord("z") + 1)},
     **dict.fromkeys(map(ord, "-. \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"))})


def plate_or_problem(raw: str) -> tuple[str, str | None]:
    """``(normalised plate, None)`` if valid, else ``(normalised plate, why not)``; the full rules.

    For the plates the hot loops' ``isalnum`` test lets through this is not needed; it is quick for the next most
    common case, ASCII with blanks or hyphens ("ABC 123", "ABC-1234"), and exact for everything.
    """
    if raw.isascii():
        plate = raw.replace(" ", "").replace("-", "").upper()
        if plate.isalnum() and len(plate) <= PLATE_MAX_LEN:
            return plate, None
        plate = raw.translate(PLATE_TABLE)
    else:
        plate = normalize_plate(raw)
    return plate, plate_problem(plate)


#: Exact state-field values to region codes (None = unknown); anything else goes through parse_region.
STATE_CODES: Final[dict[str, str | None]] = {
    **{code: code for code in REGIONS},
    **{code.lower(): code for code in REGIONS},
    **dict.fromkeys(UNKNOWN_REGION_TOKENS),
    "  ": None, " ": None,
}


def state_or_problem(raw: str) -> tuple[str | None, str | None]:
    """``(code or None, None)`` for a known or unknown-token state, else ``(None, why not)``."""
    try:
        return parse_region(raw), None
    except RegionError:
        return None, (f"state {raw.strip()!r} is not a US state, territory or Canadian province code "
                      "(leave it blank if the state is not known)")


#: Vehicle years a hot-list entry accepts (the API's range), as text; blank is None.
MIN_YEAR, MAX_YEAR = 1900, 2100
YEARS: Final[dict[str, int | None]] = {
    **{str(y): y for y in range(MIN_YEAR, MAX_YEAR + 1)}, "": None, "    ": None,
}

#: Longest vehicle description field the API accepts (schemas.Short).
MAX_SHORT: Final = 32
MAX_CASE_NUMBER: Final = 64

# Caches for dates, which repeat across a file; bounded so that a file of a million distinct junk dates cannot grow
# them without limit (past the bound, values are computed each time).
_CACHE_LIMIT: Final = 100_000


def _bounded_store(cache: dict, key: str, value: object) -> None:
    if len(cache) < _CACHE_LIMIT:
        cache[key] = value


def end_of_day_utc(day: date) -> datetime | None:
    """When an entry that expires on ``day`` stops matching: the next day at 12:00 UTC.

    A date-only expiry means "through that day"; 12:00 UTC the next morning is past local midnight everywhere from
    Newfoundland (UTC-3:30) to American Samoa (UTC-11), so no department loses any of the last day. None if the day
    is the last representable one.
    """
    try:
        return datetime.combine(day + timedelta(days=1), time(12), UTC)
    except OverflowError:
        return None


class DateCache:
    """Parses fixed-pattern dates once per distinct value: ``YYYYMMDD`` or ``MM/DD/YYYY``.

    ``date(raw)`` -> ``(date, "YYYY-MM-DD")``, ``None`` for blank, or :data:`BAD`; ``expiry(raw)`` -> the
    :func:`end_of_day_utc` datetime, ``None`` for blank, or :data:`BAD`. Values may carry surrounding blanks. Hot
    loops look in ``dates``/``expiries`` first (``.get(raw, BAD)``) and call the method only on a miss.
    """

    __slots__ = ("_split", "dates", "expiries")

    def __init__(self, pattern: Literal["YYYYMMDD", "MM/DD/YYYY"]) -> None:
        self.dates: dict[str, object] = {}
        self.expiries: dict[str, object] = {}
        self._split = _split_yyyymmdd if pattern == "YYYYMMDD" else _split_mmddyyyy

    def date(self, raw: str) -> object:
        """``(date, iso)``, None (blank) or BAD."""
        value = self.dates.get(raw, BAD)
        if value is not BAD:
            return value
        text = raw.strip()
        if not text:
            value = None
        else:
            parts = self._split(text)
            try:
                day = date(*parts) if parts else None
            except ValueError:
                day = None
            value = (day, day.isoformat()) if day is not None else BAD
        _bounded_store(self.dates, raw, value)
        return value

    def expiry(self, raw: str) -> object:
        """The expiry datetime (UTC), None (blank) or BAD."""
        value = self.expiries.get(raw, BAD)
        if value is not BAD:
            return value
        parsed = self.date(raw)
        if parsed is None or parsed is BAD:
            value = parsed
        else:
            value = end_of_day_utc(parsed[0])  # type: ignore[index]
            if value is None:
                value = BAD
        _bounded_store(self.expiries, raw, value)
        return value


def _split_yyyymmdd(text: str) -> tuple[int, int, int] | None:
    if len(text) != 8 or not (text.isdigit() and text.isascii()):
        return None
    return int(text[:4]), int(text[4:6]), int(text[6:])


def _split_mmddyyyy(text: str) -> tuple[int, int, int] | None:
    if len(text) != 10 or text[2] != "/" or text[5] != "/":
        return None
    month, day, year = text[:2], text[3:5], text[6:]
    if not all(p.isdigit() and p.isascii() for p in (month, day, year)):
        return None
    return int(year), int(month), int(day)


def header_problems(raw: Sequence[str], names: Sequence[str], required: Iterable[str], known: Container[str],
                    missing_as: str = "missing column") -> list[str]:
    """What is wrong with a header line (unknown, missing and repeated columns), in words; empty when it is fine.
    `raw` are the columns as written, `names` the same normalised."""
    missing = [c for c in required if c not in names]
    unknown = [repr(r.strip()) if name else f"(unnamed column {i})"
               for i, (r, name) in enumerate(zip(raw, names, strict=True), 1) if name not in known]
    repeated = sorted({name for name in names if names.count(name) > 1 and name in known})
    problems = []
    if unknown:
        problems.append(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    if missing:
        problems.append(f"{missing_as}{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if repeated:
        problems.append(f"column{'s' if len(repeated) > 1 else ''} {', '.join(repeated)} given more than once")
    return problems


def text_problem(text: str, where: str = "column") -> str | None:
    """Why ``text`` is not plain text, or None: bytes that are not UTF-8, or a control character.

    The position is reported as ``where`` N (1-based): "column" for a line, "character" for a field.
    """
    for position, ch in enumerate(text, 1):
        if "\udc80" <= ch <= "\udcff":  # what surrogateescape made of a byte that is not UTF-8
            return (f"{where} {position} holds the byte 0x{ord(ch) - 0xDC00:02X}, which is not UTF-8 text; "
                    "save the file as UTF-8 (or plain ASCII)")
        if not ch.isprintable():
            return (f"{where} {position} holds the control character U+{ord(ch):04X}; "
                    "fields must be plain text (no tabs, NULs or other control characters)")
    return None


def _decode_any(raw: bytes | bytearray | memoryview) -> str:
    return bytes(raw).decode()


def text_lines(lines: Iterable[bytes] | Iterable[str] | bytes | str) -> Iterator[str]:
    """``lines`` as str lines: bytes decoded as UTF-8, the first line's byte-order mark dropped.

    A single ``bytes`` or ``str`` is taken as the whole file and split after each ``\\n`` (endings kept). A bytes
    line that is not UTF-8 raises UnicodeDecodeError from the iterator, which stays usable: the format loops catch
    it, report that line (see :func:`undecodable`) and carry on with the next.
    """
    if isinstance(lines, (bytes, bytearray)):
        lines = io.BytesIO(bytes(lines))
    elif isinstance(lines, str):
        lines = io.StringIO(lines, newline="")
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return iter(())
    if isinstance(first, str):
        return chain((first.removeprefix("\ufeff"),), it)
    # map() over bytes.decode is the fastest way to decode line by line; decoding the first line lazily too keeps
    # its error where the loops catch it.
    decode = bytes.decode if type(first) is bytes else _decode_any
    return chain(map(decode, (bytes(first).removeprefix(b"\xef\xbb\xbf"),)), map(decode, it))


def undecodable(exc: UnicodeDecodeError) -> str:
    """A clerk's explanation of a line that is not UTF-8."""
    raw = exc.object if isinstance(exc.object, bytes) else b""
    column = len(raw[:exc.start].decode("utf-8", "replace")) + 1
    return (f"column {column} holds the byte 0x{raw[exc.start]:02X}, which is not UTF-8 text; save the file as "
            "UTF-8 (or plain ASCII)") if exc.start < len(raw) else "the line is not UTF-8 text"


# ---------------------------------------------------------------------------------------------------------------
# Formats and the entry point
# ---------------------------------------------------------------------------------------------------------------

#: A format's parser: (str lines, source, normalised skip list) -> records and problems.
Parser = Callable[[Iterable[str], str, frozenset[str]], Iterator["ImportRecord | LineProblem"]]


@dataclass(frozen=True, slots=True)
class Format:
    """An import format: its name for ``parse``/the API, a one-line description, and its parser."""

    name: str
    title: str
    parser: Parser


def parse(
    format: str,
    lines: Iterable[bytes] | Iterable[str] | bytes | str,
    source: str,
    skip_list: frozenset[str] = DEFAULT_SKIP_LIST,
) -> Iterator[ImportRecord | LineProblem]:
    """Parse the lines of an import file in ``format`` (a key of :data:`FORMATS`) listed under ``source``.

    Yields one :class:`ImportRecord` per loadable line and one :class:`LineProblem` per line that is not loaded, in
    file order, lazily. ``skip_list`` holds junk plates (normalised here if it is not the default). Raises
    ValueError at once for an unknown format or source (a caller's mistake, not a line's).
    """
    fmt = FORMATS.get(format)
    if fmt is None:
        raise ValueError(f"unknown import format {format!r}; known: {', '.join(FORMATS)}")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    skip = skip_list if skip_list is DEFAULT_SKIP_LIST else normalize_skip_list(skip_list)
    return fmt.parser(text_lines(lines), source, skip)


# The format modules import the names above from this package, so they are imported once those exist.
from server.hotlist.formats import apsin, csv_format, ncic  # noqa: E402

#: The import formats by name.
FORMATS: Final[dict[str, Format]] = {
    "ncic": Format("ncic", "NCIC-style fixed-width extract", ncic.parse),
    "csv": Format("csv", "CSV with a header line (api-v1.md)", csv_format.parse),
    "apsin": Format("apsin", "APSIN/RMS pipe-delimited export", apsin.parse),
}
