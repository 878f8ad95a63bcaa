"""Contract fuzzing: schemathesis generates requests from the committed OpenAPI file against a real server.

Every answer must be a documented status, match its documented schema and content type, and never be a 5xx.
Bounded (a fixed number of examples per operation, a fixed seed) to fit CI; it runs on SQLite and the real
Redis only, since the contract does not depend on the database and the other integration tests cover both.
Set CONTRACT_FUZZ_SEED to explore with another seed, CONTRACT_FUZZ_EXAMPLES for more examples per operation.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import events
from schemathesis.engine.statistic import Statistic
from support import World, entry, make_user, now_iso, post_read, read

from server.openapi_spec import SPEC_FILE

MAX_EXAMPLES = int(os.environ.get("CONTRACT_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("CONTRACT_FUZZ_SEED", "20260314"))
# With MAX_EXAMPLES examples per operation and mode, plus the examples and coverage phases, a full run generates
# well over this many cases; far fewer means operations were skipped or the engine stopped early.
MIN_CASES = 1500
# Operations that must accept at least one generated request (2xx): the rest need ids of rows that exist.
MIN_ACCEPTED_OPERATIONS = 12
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "negative_data_rejection", "ignored_auth")
ALL_ROLES = ["officer", "dispatcher", "rtcc", "supervisor", "records", "auditor", "chief", "admin"]


@dataclass
class FuzzResult:
    cases: int = 0
    seconds: float = 0.0
    by_phase: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # "POST /path" -> answers by status
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop_reason: str = ""


def _config(base_url: str, user_token: str, device_token: str, victim_user_id: int) -> schemathesis.Config:
    checks: dict[str, Any] = {"enabled": False, **{name: {"enabled": True} for name in CHECKS}}
    return schemathesis.Config.from_dict({
        "base-url": base_url,
        "seed": SEED,
        "workers": 1,
        "cache": {"enabled": False},
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none", "no-shrink": True},
        "checks": checks,
        # Stateful: sequences of calls along links schemathesis infers (an id one answer gives, the next uses).
        "phases": {"stateful": {"enabled": True, "max-steps": 20}},
        "auth": {"openapi": {"bearer": {"bearer": user_token}, "deviceToken": {"bearer": device_token}}},
        "operations": [
            # Withdrawing the fuzzing account's own grant would turn the rest of the run into 403s: grants and
            # training records go to another account (their bodies are still generated).
            {"include-path": "/api/v1/users/{user_id}/access-grant", "parameters": {"path.user_id": victim_user_id}},
            {"include-path": "/api/v1/users/{user_id}/training", "parameters": {"path.user_id": victim_user_id}},
        ],
    })


def _run_engine(schema: Any) -> FuzzResult:  # noqa: ANN401
    """Run schemathesis' engine (what `schemathesis run` does) to the end, in this thread."""
    result, statistic = FuzzResult(), Statistic()
    started = time.perf_counter()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            statistic.on_scenario_finished(event.recorder)
            phase = event.phase.value if hasattr(event.phase, "value") else str(event.phase)
            result.by_phase[phase] = result.by_phase.get(phase, 0) + len(event.recorder.cases)
            for case_id, node in event.recorder.cases.items():
                interaction = event.recorder.interactions.get(case_id)
                if interaction is not None and interaction.response is not None:
                    label = node.value.operation.label
                    result.statuses.setdefault(label, Counter())[interaction.response.status_code] += 1
        elif isinstance(event, events.NonFatalError):
            result.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            result.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            result.stop_reason = str(event.stop_reason)
    result.seconds = time.perf_counter() - started
    result.cases = statistic.total_cases
    output = schema.config.output
    for label, groups in sorted(statistic.failures.items()):
        for group in groups.values():
            result.failures.append(f"{label}\n{group.format(index=None, curl=group.code_sample, config=output)}")
    return result


async def _seed_data(world: World) -> None:
    """A few rows behind small ids, so generated ids sometimes name something that exists."""
    for plate in ("FUZ001", "FUZ002", "FUZ003"):
        await world.add_entry(plate)
        await post_read(world.camera, read(plate))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_schemathesis_finds_no_contract_breaks(world: World, capsys: pytest.CaptureFixture[str],
                                                     record_property: Callable[[str, object], None]) -> None:
    """Generated requests from the committed spec never get a 5xx, an undocumented status or an off-schema body."""
    anon = world.client()
    fuzzer = await make_user(world.admin, anon, world.client, "fuzzer", ALL_ROLES, unit_id=world.unit_id)
    victim = await make_user(world.admin, anon, world.client, "grantee", ["dispatcher"])
    await _seed_data(world)
    device = (await anon.post("/api/v1/auth/device-token",
                              json={"camera_id": world.camera_id, "secret": world.camera_secret})).json()
    doc = json.loads(SPEC_FILE.read_text())
    config = _config(world.server.base_url, fuzzer.token, device["access_token"], victim.id)
    schema = schemathesis.openapi.from_dict(doc, config=config)

    # The server answers in this event loop; the engine's blocking client runs in a thread beside it.
    result = await asyncio.to_thread(_run_engine, schema)

    answers = sum(result.statuses.values(), Counter())
    summary = (f"schemathesis {schemathesis.__version__}: {result.cases} generated cases over {len(result.statuses)} "
               f"operations in {result.seconds:.1f} s (seed {SEED}, at most {MAX_EXAMPLES} examples per operation "
               f"and mode); by phase: {result.by_phase}; answers by status: {dict(sorted(answers.items()))}")
    record_property("schemathesis_cases", result.cases)
    with capsys.disabled():  # shown in CI's log even when the test passes
        print(f"\n{summary}")
    for op, counts in sorted(result.statuses.items()):
        print(f"  {op}: {dict(sorted(counts.items()))}")  # shown when the test fails
    assert not result.failures, "\n\n".join(result.failures)
    assert not result.errors, "\n".join(result.errors)
    assert result.stop_reason == "completed", result.stop_reason
    assert result.cases >= MIN_CASES, f"only {result.cases} cases generated"
    documented = {f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item
                  if method in {"get", "post", "patch", "delete"}}
    assert documented <= set(result.statuses), f"never called: {sorted(documented - set(result.statuses))}"
    # The tokens worked: most operations accepted some generated request, rather than a wall of 401s and 403s.
    accepted = sorted(op for op, counts in result.statuses.items() if any(200 <= s < 300 for s in counts))
    assert len(accepted) >= MIN_ACCEPTED_OPERATIONS, f"only these accepted a request: {accepted}"
    me = await fuzzer.client.get("/api/v1/users/me")
    assert me.status_code == 200, me.text


async def test_what_fuzzing_found_is_a_4xx_on_both_databases(world: World) -> None:
    """Ids past the INTEGER columns, times with no UTC form, JSON of the wrong type: 4xx with {error, detail}, no 500."""
    officer, big, huge = world.officer.id, 2**31, 10**20
    by_admin: list[tuple[str, str, Any, int]] = [
        ("GET", f"/api/v1/hits/{big}", None, 422),
        ("GET", f"/api/v1/hits/{huge}", None, 422),
        ("GET", f"/api/v1/hits?unit_id={big}", None, 422),
        ("GET", f"/api/v1/hits?offset={huge}", None, 422),
        ("GET", f"/api/v1/hotlist/entries?offset={huge}", None, 422),
        ("GET", f"/api/v1/suppressions?unit_id={huge}", None, 422),
        ("DELETE", f"/api/v1/hotlist/entries/{big}", {"reason": "entered twice"}, 422),
        ("POST", f"/api/v1/users/{big}/training", {"completed_at": now_iso()}, 422),
        ("POST", "/api/v1/cameras", {"unit_id": big, "label": "dash"}, 422),
        ("POST", "/api/v1/users", {"username": "bigunit", "password": "correct-horse-battery", "display_name": "B",
                                   "roles": ["officer"], "unit_id": huge}, 422),
        # 0001-01-01T00:00+14:00 is in year 0 in UTC; 9999-12-31T23:59-14:00 in year 10000.
        ("POST", f"/api/v1/users/{officer}/training", {"completed_at": "0001-01-01T00:00:00+14:00"}, 422),
        ("POST", "/api/v1/hotlist/entries", entry("FUZ9", expires_at="9999-12-31T23:59:59-14:00"), 422),
        # Lax coercion would have read 0 as false (a withdrawn grant) and as 1970-01-01 (a training date).
        ("POST", f"/api/v1/users/{officer}/access-grant", {"granted": 0, "note": "RTCC staffing"}, 422),
        ("POST", f"/api/v1/users/{officer}/training", {"completed_at": 0}, 422),
        ("POST", "/api/v1/cameras", {"unit_id": str(world.unit_id), "label": "dash"}, 422),
        ("POST", f"/api/v1/users/{officer}/access-grant", b"{", 400),
        ("POST", f"/api/v1/users/{officer}/access-grant", b"", 422),
    ]
    by_rtcc = [("POST", f"/api/v1/hits/{big}/apsin", {"confirmed": True, "reference": "APSIN-1"}, 422),
               ("POST", "/api/v1/hits/1/apsin", {"confirmed": "true", "reference": "APSIN-1"}, 422)]
    for client, calls in ((world.admin.client, by_admin), (world.rtcc.client, by_rtcc)):
        for method, url, body, status in calls:
            if isinstance(body, bytes):
                resp = await client.request(method, url, content=body, headers={"Content-Type": "application/json"})
            else:
                resp = await client.request(method, url, json=body)
            assert resp.status_code == status, (method, url, body, resp.status_code, resp.text)
            answer = resp.json()
            assert isinstance(answer["error"], str) and isinstance(answer["detail"], str), answer
    me = await world.officer.client.get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["access_granted"] is True, me.text
    assert me.json()["training_completed_at"] > "2000", me.text
