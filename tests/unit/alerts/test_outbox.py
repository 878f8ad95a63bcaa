"""The per-socket outbox: most urgent first, then oldest; bounded for live events only; replay_done last."""

from __future__ import annotations

import asyncio
import time

from server.alerts.service import Outbox


async def take_all(box: Outbox) -> list[str]:
    """Every waiting message's event id (or text, for one without an id), in the order get() gives them."""
    out = []
    while len(box):
        item = await box.get(0.1)
        assert item is not None
        out.append(item.event_id or item.message)
    return out


async def test_most_urgent_first_then_oldest_by_numeric_event_id() -> None:
    """Priority decides first; within a priority, event ids compare as numbers (10-0 after 9-0, 5-10 after 5-9)."""
    box = Outbox(100)
    for priority, event_id in [(4, "10-0"), (4, "9-0"), (1, "12-0"), (4, "5-10"), (4, "5-9"), (9, "1-0"),
                               (1, "11-3"), (3, "100-0")]:
        assert box.offer(priority, event_id, f"m{event_id}")
    assert await take_all(box) == ["11-3", "12-0", "100-0", "5-9", "5-10", "9-0", "10-0", "1-0"]


async def test_replays_and_live_events_share_one_order() -> None:
    """A replayed event and a live one are ordered together by priority and id, whichever was queued first."""
    box = Outbox(10)
    box.offer(4, "30-0", "live")
    box.add_replay([(4, "20-0", "r20"), (4, "40-0", "r40"), (1, "50-0", "r50")])
    items = [await box.get(0) for _ in range(4)]
    assert [(i.event_id, i.live) for i in items] == [("50-0", False), ("20-0", False), ("30-0", True),
                                                    ("40-0", False)]


async def test_same_event_twice_keeps_both_in_arrival_order() -> None:
    """An original and its re-send (same id and priority) both stay queued, first come first out."""
    box = Outbox(10)
    box.offer(4, "7-0", "original")
    box.offer(4, "7-0", "again", resend=True)
    first, second = await box.get(0), await box.get(0)
    assert (first.message, first.resend) == ("original", False)
    assert (second.message, second.resend) == ("again", True)


async def test_live_bound_refuses_when_full_and_frees_a_place_per_get() -> None:
    """offer() returns False once `size` live events wait; taking one makes room for exactly one more."""
    box = Outbox(3)
    assert [box.offer(4, f"{n}-0", "m") for n in range(1, 5)] == [True, True, True, False]
    assert len(box) == 3
    assert (await box.get(0)).event_id == "1-0"
    assert box.offer(4, "5-0", "m")
    assert not box.offer(4, "6-0", "m")
    assert await take_all(box) == ["2-0", "3-0", "5-0"]


async def test_replays_do_not_count_against_the_live_bound() -> None:
    """A replay of any length is queued whole, and live events still have their full room beside it."""
    box = Outbox(2)
    box.add_replay((4, f"{n}-0", "r") for n in range(1, 501))
    box.add_last("done")
    assert box.offer(4, "600-0", "live")
    assert box.offer(4, "601-0", "live")
    assert not box.offer(4, "602-0", "live")
    assert len(box) == 503


async def test_taking_a_replayed_event_frees_no_live_place() -> None:
    """Only taking a live event makes room for another live one."""
    box = Outbox(1)
    box.add_replay([(1, "1-0", "urgent replay")])
    assert box.offer(4, "2-0", "live")
    assert (await box.get(0)).event_id == "1-0"
    assert not box.offer(4, "3-0", "live"), "the live event still waits"
    assert (await box.get(0)).event_id == "2-0"
    assert box.offer(4, "3-0", "live")


async def test_add_last_comes_after_everything_queued() -> None:
    """replay_done goes out after every message already queued, even the least urgent live one."""
    box = Outbox(10)
    box.offer(9, "1-0", "least urgent")
    box.add_replay([(4, "5-0", "r"), (1, "3-0", "r")])
    box.add_last("replay_done 1")
    box.add_last("replay_done 2")
    assert await take_all(box) == ["3-0", "5-0", "1-0", "replay_done 1", "replay_done 2"]


async def test_get_returns_none_after_its_timeout_when_empty() -> None:
    """An empty outbox answers None after the timeout (the writer sends a ping), and nothing is lost by it."""
    box = Outbox(5)
    started = time.monotonic()
    assert await box.get(0.05) is None
    assert 0.04 <= time.monotonic() - started < 1.0
    box.offer(4, "1-0", "m")
    assert (await box.get(0.05)).event_id == "1-0"
    assert await box.get(0.01) is None, "emptied again"


async def test_waiting_get_wakes_for_a_new_message() -> None:
    """A get() waiting on an empty outbox returns as soon as something is queued."""
    box = Outbox(5)
    waiting = asyncio.create_task(box.get(5))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    started = time.monotonic()
    box.offer(2, "9-0", "m")
    item = await asyncio.wait_for(waiting, 1)
    assert item is not None and item.event_id == "9-0"
    assert time.monotonic() - started < 0.5
