"""Unit tests for server.audit.chain: canonical hashing and finding the first break in a run of events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.audit.chain import GENESIS, canonical, check, event_hash


def chain_of(n: int) -> list[dict]:
    """n well-linked events."""
    events, prev = [], GENESIS
    for i in range(1, n + 1):
        ev = {"id": i, "at": datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=i), "actor_id": 7,
              "actor_name": "rtcc1", "actor_role": "rtcc", "action": "search", "purpose": "stolen_vehicle",
              "purpose_detail": "Silver pickup seen leaving the burglary on 5th", "case_number": "24-1",
              "client_address": "10.0.0.5", "subject": "plate:ABC*", "details": {"query": {"plate": "ABC*"},
                                                                                 "result_count": i}}
        ev["prev_hash"], ev["hash"] = prev, event_hash(ev, prev)
        prev = ev["hash"]
        events.append(ev)
    return events


def test_intact_chain_checks_out() -> None:
    """A chain of untouched events has no break, and check returns the last hash and id."""
    events = chain_of(5)
    assert check(events) == (5, events[-1]["hash"], 5, None)


def test_naive_and_aware_utc_hash_alike() -> None:
    """SQLite hands back naive UTC datetimes: they must hash like the aware value written."""
    ev = chain_of(1)[0]
    naive = {**ev, "at": ev["at"].replace(tzinfo=None)}
    assert canonical(naive) == canonical(ev)


@pytest.mark.parametrize(("tamper", "bad_id", "problem"), [
    (lambda evs: evs[2].update(purpose_detail="something else"), 3, "altered"),
    (lambda evs: evs[2]["details"].update(result_count=0), 3, "altered"),
    (lambda evs: evs[1].update(actor_name="someone"), 2, "altered"),
    (lambda evs: evs.pop(2), 4, "missing"),
    (lambda evs: evs[3].update(prev_hash="f" * 64), 4, "link"),
])
def test_tampering_names_the_first_bad_event(tamper, bad_id: int, problem: str) -> None:  # noqa: ANN001
    """Changing any field, removing an event, or relinking one is caught at the first event affected."""
    events = chain_of(6)
    tamper(events)
    _, _, _, br = check(events)
    assert br is not None and br.id == bad_id and problem in br.problem


def test_rehashing_a_changed_event_breaks_the_next_link() -> None:
    """Recomputing the hash of an altered event still breaks the chain at the following event."""
    events = chain_of(4)
    events[1]["action"] = "login"
    events[1]["hash"] = event_hash(events[1], events[1]["prev_hash"])
    _, _, _, br = check(events)
    assert br is not None and br.id == 3


def test_check_continues_from_a_previous_batch() -> None:
    """Verification walks the trail in batches: a batch starts from the previous one's last hash and id."""
    events = chain_of(6)
    n1, h, last, br1 = check(events[:3])
    n2, _, _, br2 = check(events[3:], h, last)
    assert (n1, n2, br1, br2) == (3, 3, None, None)
