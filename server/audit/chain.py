"""The audit hash chain, pure: canonical form of an event, its hash, and checking a run of events in order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
# Every field but the hash itself; adding one later means a new chain version, never a silent change.
HASHED_FIELDS = ("id", "at", "actor_id", "actor_name", "actor_role", "action", "purpose", "purpose_detail",
                 "case_number", "client_address", "subject", "details")


def _value(v: Any) -> Any:  # noqa: ANN401
    if isinstance(v, datetime):
        # SQLite gives naive UTC back; either way the same instant prints the same.
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    return v


def canonical(event: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes hashed, the same on every database and Python."""
    return json.dumps({f: _value(event.get(f)) for f in HASHED_FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode()


def event_hash(event: Mapping[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(event)).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    """The first event at which the chain does not hold, and why."""

    id: int
    problem: str


def check(events: Iterable[Mapping[str, Any]], prev_hash: str = GENESIS, prev_id: int = 0,
          ) -> tuple[int, str, int, Break | None]:
    """Walk events in id order: (count checked, last hash, last id, first break or None)."""
    n = 0
    for ev in events:
        n += 1
        if ev["id"] != prev_id + 1:
            return n, prev_hash, prev_id, Break(ev["id"], f"events {prev_id + 1}..{ev['id'] - 1} are missing")
        if ev["prev_hash"] != prev_hash:
            return n, prev_hash, prev_id, Break(ev["id"], "its link to the previous event does not match "
                                                          "(an earlier event was removed or replaced)")
        if event_hash(ev, prev_hash) != ev["hash"]:
            return n, prev_hash, prev_id, Break(ev["id"], "its content does not match its hash (altered)")
        prev_hash, prev_id = ev["hash"], ev["id"]
    return n, prev_hash, prev_id, None
