"""Raising a group's hits inside its transaction: synchronous Core, so it runs where the database is cheapest.

On SQLite the whole group transaction runs in one call on the writer thread; on PostgreSQL through
`AsyncConnection.run_sync`. Per hit, the ORM's query and flush would cost more than the rest of the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from server.alerts.delivery import AlertEvent
from server.alerts.service import unit_key
from server.db import as_utc, utcnow
from server.detections.models import Detection
from server.hits.models import Hit, HitEvent, HitRead, Suppression
from server.hits.schemas import HitPublic, encode
from server.hits.service import detection_summary, entry_summary, hit_public, recipients, utc
from server.hotlist.index import Candidate
from server.hotlist.models import HotlistEntry
from server.prepared import Prepared

HIT, HIT_READ, HIT_EVENT, DETECTION = Hit.__table__, HitRead.__table__, HitEvent.__table__, Detection.__table__
SUPPRESSION, ENTRY = Suppression.__table__, HotlistEntry.__table__
_IDS = bindparam("ids", expanding=True)
LISTED = Prepared(select(ENTRY.c.id, ENTRY.c.plate).where(ENTRY.c.id.in_(_IDS), ENTRY.c.removed_at.is_(None)),
                  expanding=["ids"])
SUPPRESSIONS = Prepared(
    select(SUPPRESSION.c.id, SUPPRESSION.c.unit_id, SUPPRESSION.c.entry_id, SUPPRESSION.c.plate).where(
        SUPPRESSION.c.entry_id.in_(_IDS), SUPPRESSION.c.expires_at > bindparam("now"),
        SUPPRESSION.c.lifted_at.is_(None)), expanding=["ids"])
OPEN_HITS = Prepared(select(HIT).where(HIT.c.entry_id.in_(_IDS), HIT.c.status != "closed",
                                       HIT.c.last_read_at >= bindparam("earliest")).order_by(HIT.c.id),
                     expanding=["ids"])
HIT_COLUMNS = [c.key for c in HIT.columns if c.key != "id"]
INSERT_HIT = Prepared(insert(HIT).returning(HIT.c.id), columns=HIT_COLUMNS)
FOLD_HIT = Prepared(update(HIT).where(HIT.c.id == bindparam("hid")).values(
    read_count=bindparam("n"), last_read_at=bindparam("at")))
INSERT_HIT_READ = Prepared(insert(HIT_READ), columns=["hit_id", "detection_id"])
INSERT_HIT_EVENT = Prepared(insert(HIT_EVENT), columns=["hit_id", "kind", "at", "actor_id", "actor_role", "data"])


@dataclass(slots=True)
class Raised:
    """One read's effect on one hit: a new hit, or a read folded into an open one."""

    row: Mapping[str, Any]
    candidate: Candidate
    hit: Hit
    is_new: bool


def raise_hits(conn: Connection, matched: Sequence[tuple[Mapping[str, Any], list[Candidate]]],
               fold_window: timedelta) -> tuple[list[Raised], dict[str, dict[str, Any]]]:
    """New hits, or reads folded into an open hit of the same unit, entry and read plate; not committed.

    Returns what happened per read, and the first read of each hit that was folded into (for its alert).
    """
    reads = [(row, utc(row["captured_at"]), cand) for row, cands in matched for cand in cands]
    reads = _unsuppressed(conn, _still_listed(conn, reads))
    if not reads:
        return [], {}
    open_hits = _open_hits(conn, reads, fold_window)
    raised: list[Raised] = []
    for row, captured, cand in reads:
        key = (row["unit_id"], cand.entry.id, row["plate"])
        hit = open_hits.get(key)
        if hit is not None and as_utc(hit.last_read_at) >= captured - fold_window:
            hit.read_count += 1
            hit.last_read_at = max(as_utc(hit.last_read_at), captured)
            raised.append(Raised(row, cand, hit, False))
            continue
        hit = Hit(detection_id=row["id"], entry_id=cand.entry.id, unit_id=row["unit_id"], plate=row["plate"],
                  match_kind=cand.kind, state_mismatch=cand.state_mismatch, category=cand.entry.category,
                  priority=cand.entry.priority, last_read_at=captured, created_at=utcnow(), status="pending",
                  read_count=1)
        open_hits[key] = hit  # a later read of the same car in this group folds into it
        raised.append(Raised(row, cand, hit, True))
    _store(conn, raised)
    firsts = {r.hit.detection_id for r in raised if not r.is_new}
    first_rows = {d.id: dict(d._mapping) for d in conn.execute(select(DETECTION).where(DETECTION.c.id.in_(firsts)))
                  } if firsts else {}
    return raised, first_rows


def _still_listed(conn: Connection, reads: list) -> list:  # noqa: ANN001
    """The reads whose entry the database lists, as the index has it. The index is written just before an
    import commits and just after a removal does; in those moments a read must not raise a hit (the database is
    the source of truth), and an id freed by a rolled-back import may belong to another plate by now."""
    listed = set(LISTED.rows(conn, {"ids": sorted({c.entry.id for _, _, c in reads})}))
    return [r for r in reads if (r[2].entry.id, r[2].entry.plate) in listed]


def _unsuppressed(conn: Connection, reads: list) -> list:  # noqa: ANN001
    """The reads left once an officer's misread suppressions for their unit are applied; each suppressed read
    is counted on its suppression, so a supervisor sees what it held back."""
    now = utcnow()
    rows = SUPPRESSIONS.rows(conn, {"ids": sorted({c.entry.id for _, _, c in reads}), "now": now})
    if not rows:
        return reads
    active = {(unit_id, entry_id, plate): sid for sid, unit_id, entry_id, plate in rows}
    kept, held = [], {}
    for read in reads:
        row, _, cand = read
        sid = active.get((row["unit_id"], cand.entry.id, row["plate"]))
        if sid is None:
            kept.append(read)
        else:
            held[sid] = held.get(sid, 0) + 1
    if held:
        conn.execute(update(SUPPRESSION).where(SUPPRESSION.c.id == bindparam("sid")).values(
            suppressed_reads=SUPPRESSION.c.suppressed_reads + bindparam("n"), last_suppressed_at=now),
            [{"sid": sid, "n": n} for sid, n in held.items()])
    return kept


def _open_hits(conn: Connection, reads: list, fold_window: timedelta) -> dict[tuple[int, int, str], Hit]:  # noqa: ANN001
    """The newest open hit per (unit, entry, read plate) that a read of this group may fold into."""
    earliest = min(captured for _, captured, _ in reads) - fold_window
    rows = OPEN_HITS.dicts(conn, {"ids": sorted({c.entry.id for _, _, c in reads}), "earliest": earliest})
    return {(r["unit_id"], r["entry_id"], r["plate"]): Hit(**r) for r in rows}


def _store(conn: Connection, raised: list[Raised]) -> None:
    new = [r.hit for r in raised if r.is_new]
    for hit in new:  # one at a time: a driver's executemany returns no ids
        [(hit.id,)] = INSERT_HIT.rows(conn, hit.model_dump(exclude={"id"}))
    folded = {id(r.hit): r.hit for r in raised if not r.is_new}.values()  # one update per hit, final count
    FOLD_HIT.many(conn, [{"hid": h.id, "n": h.read_count, "at": h.last_read_at} for h in folded])
    now = utcnow()
    INSERT_HIT_READ.many(conn, [{"hit_id": r.hit.id, "detection_id": r.row["id"]} for r in raised])
    INSERT_HIT_EVENT.many(conn, [
        {"hit_id": r.hit.id, "kind": "created" if r.is_new else "read_folded", "at": now, "actor_id": None,
         "actor_role": None, "data": {"detection_id": r.row["id"], "match_kind": r.candidate.kind} if r.is_new
         else {"detection_id": r.row["id"]}} for r in raised])


def announce(raised: list[Raised], first_rows: dict[str, dict[str, Any]],
             ) -> tuple[list[AlertEvent], dict[str, list[HitPublic]]]:
    """The alert for each new hit and the update for each folded read, and each read's hits for its answer."""
    events: list[AlertEvent] = []
    by_detection: dict[str, list[HitPublic]] = {}
    for r in raised:
        first = r.row if r.is_new else first_rows.get(r.hit.detection_id, r.row)
        public = hit_public(r.hit, detection_summary(first), entry_summary(r.candidate.entry))
        by_detection.setdefault(r.row["id"], []).append(public)
        # A new hit awaits the unit's ack (re-sent and escalated without one); a folded read only updates it.
        events.append(AlertEvent("hit" if r.is_new else "hit_update", recipients(r.hit.unit_id), encode(public),
                                 priority=r.hit.priority, track=unit_key(r.hit.unit_id) if r.is_new else None))
    return events, by_detection
