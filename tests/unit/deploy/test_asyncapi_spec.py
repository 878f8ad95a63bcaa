"""clients/mobile_api_spec/asyncapi.yaml: an AsyncAPI 3 document whose schemas, examples and enums match the server.

No AsyncAPI 3 validator on PyPI works offline and is maintained, so the document's structure is checked here
against the AsyncAPI 3.0.0 rules it relies on (required fields, references, operations naming their channel's
messages); the payload schemas are JSON Schema draft 7 (the AsyncAPI Schema format's base) and checked with
`jsonschema`. What the running server sends is checked against the same schemas by tests/asyncapi_check.py.
"""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[3]
SPEC_FILE = ROOT / "clients" / "mobile_api_spec" / "asyncapi.yaml"
GUIDE_FILE = ROOT / "clients" / "mobile_api_spec" / "README.md"

# AsyncAPI 3.0.0: the fields each object may have (beyond `x-` extensions), and those it must have.
DOCUMENT_FIELDS = {"asyncapi", "id", "info", "servers", "defaultContentType", "channels", "operations", "components"}
INFO_FIELDS = {"title", "version", "description", "termsOfService", "contact", "license", "tags", "externalDocs"}
SERVER_FIELDS = {"host", "protocol", "protocolVersion", "pathname", "description", "title", "summary", "variables",
                 "security", "tags", "externalDocs", "bindings"}
CHANNEL_FIELDS = {"address", "messages", "title", "summary", "description", "servers", "parameters", "tags",
                  "externalDocs", "bindings"}
OPERATION_FIELDS = {"action", "channel", "title", "summary", "description", "security", "tags", "externalDocs",
                    "bindings", "traits", "messages", "reply"}
REPLY_FIELDS = {"address", "channel", "messages"}
MESSAGE_FIELDS = {"headers", "payload", "correlationId", "contentType", "name", "title", "summary", "description",
                  "tags", "externalDocs", "bindings", "examples", "traits"}
EXAMPLE_FIELDS = {"headers", "payload", "name", "summary"}
COMPONENT_FIELDS = {"schemas", "servers", "channels", "operations", "messages", "securitySchemes", "serverVariables",
                    "parameters", "correlationIds", "replies", "replyAddresses", "externalDocs", "tags",
                    "operationTraits", "messageTraits", "serverBindings", "channelBindings", "operationBindings",
                    "messageBindings"}
SECURITY_TYPES = {"userPassword", "apiKey", "X509", "symmetricEncryption", "asymmetricEncryption", "httpApiKey",
                  "http", "oauth2", "openIdConnect", "plain", "scramSha256", "scramSha512", "gssapi"}
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    import asyncapi_check

    return asyncapi_check.spec()


def _own_fields(obj: dict[str, Any]) -> set[str]:
    return {k for k in obj if not k.startswith("x-")}


def _refs(node: Any, path: str = "#") -> list[tuple[str, str]]:  # noqa: ANN401
    """Every (where, $ref) in a part of the document."""
    out = []
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.append((path, node["$ref"]))
        for k, v in node.items():
            out += _refs(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _refs(v, f"{path}/{i}")
    return out


def _messages_by_type(spec: dict[str, Any], action: str) -> dict[str, str]:
    """Message type (its payload's `type` const) -> component message name, for operations with this action."""
    import asyncapi_check

    out = {}
    for op in spec["operations"].values():
        if op["action"] == action:
            for ref in op["messages"]:
                message = asyncapi_check.deref(ref)
                out[asyncapi_check.deref(message["payload"])["properties"]["type"]["const"]] = message["name"]
    return out


def test_document_is_asyncapi_3_with_info_and_json_content(spec) -> None:
    """The YAML parses to an AsyncAPI 3.0.0 document with its required fields and nothing AsyncAPI 3 lacks."""
    assert spec["asyncapi"] == "3.0.0"
    assert _own_fields(spec) <= DOCUMENT_FIELDS, _own_fields(spec) - DOCUMENT_FIELDS
    assert {"info", "channels", "operations", "components"} <= set(spec)
    assert _own_fields(spec["info"]) <= INFO_FIELDS
    assert isinstance(spec["info"]["title"], str) and isinstance(spec["info"]["version"], str)
    assert spec["defaultContentType"] == "application/json"
    assert _own_fields(spec["components"]) <= COMPONENT_FIELDS
    for kind, entries in spec["components"].items():
        assert all(COMPONENT_KEY.match(k) for k in entries), f"components.{kind} has a key AsyncAPI does not allow"


def test_every_reference_is_local_and_resolves(spec) -> None:
    """Every $ref points at something in the document itself."""
    import asyncapi_check

    refs = _refs(spec)
    assert len(refs) > 50
    for where, ref in refs:
        assert ref.startswith("#/"), f"{where}: {ref} is not a local reference"
        try:
            asyncapi_check.resolve(ref)
        except (KeyError, IndexError, TypeError):
            pytest.fail(f"{where}: {ref} points at nothing")


def test_servers_and_security_schemes(spec) -> None:
    """Servers name a websocket protocol and host; each security requirement is a defined, valid scheme."""
    import asyncapi_check

    assert spec["servers"]
    for name, server in spec["servers"].items():
        assert _own_fields(server) <= SERVER_FIELDS, name
        assert server["protocol"] in {"ws", "wss"} and isinstance(server["host"], str), name
        assert "://" not in server["host"], "a host has no scheme in AsyncAPI 3"
        for req in server.get("security", []):
            assert req["$ref"].startswith("#/components/securitySchemes/")
    assert spec["servers"]["production"]["protocol"] == "wss"
    for name, scheme in spec["components"]["securitySchemes"].items():
        assert scheme["type"] in SECURITY_TYPES, name
        if scheme["type"] == "http":
            assert scheme["scheme"] == "bearer"
        assert scheme.get("description"), f"{name}: say how a client uses it"
    assert asyncapi_check.deref(spec["servers"]["production"]["security"][0])["type"] == "http"


def test_channel_and_operations_follow_asyncapi_3_rules(spec) -> None:
    """Operations name a channel by reference and only messages of that channel (AsyncAPI 3), replies too."""
    (name, channel), = spec["channels"].items()
    assert _own_fields(channel) <= CHANNEL_FIELDS
    assert channel["address"] == "/ws/alerts"
    for key, msg in channel["messages"].items():
        assert msg["$ref"] == f"#/components/messages/{key}"
    assert channel["bindings"]["ws"]["method"] == "GET"
    used: set[str] = set()
    for op_name, op in spec["operations"].items():
        assert _own_fields(op) <= OPERATION_FIELDS, op_name
        assert op["action"] in {"send", "receive"}, op_name
        assert op["channel"] == {"$ref": f"#/channels/{name}"}, op_name
        assert op["messages"], op_name
        for ref in op["messages"]:
            prefix = f"#/channels/{name}/messages/"
            assert ref["$ref"].startswith(prefix), f"{op_name}: {ref} is not a message of its channel"
            used.add(ref["$ref"].removeprefix(prefix))
        if "reply" in op:
            assert _own_fields(op["reply"]) <= REPLY_FIELDS
            assert op["reply"]["channel"] == {"$ref": f"#/channels/{name}"}
            assert all(r["$ref"].startswith(f"#/channels/{name}/messages/") for r in op["reply"]["messages"])
    assert used == set(channel["messages"]), "every message of the channel is sent or received by an operation"


def test_messages_have_payload_schemas_and_examples(spec) -> None:
    """Each message names itself, refers to a payload schema whose `type` is its name, and has examples."""
    import asyncapi_check

    for name, message in spec["components"]["messages"].items():
        assert _own_fields(message) <= MESSAGE_FIELDS, name
        assert message["name"] == name
        payload = asyncapi_check.deref(message["payload"])
        assert payload["properties"]["type"] == {"const": name}
        assert payload["type"] == "object" and "type" in payload["required"]
        assert payload["additionalProperties"] is False, f"{name}: a fixed shape, so drift is caught"
        assert message["examples"], f"{name} has no example"
        for example in message["examples"]:
            assert _own_fields(example) <= EXAMPLE_FIELDS and "payload" in example and "name" in example


def test_every_schema_is_valid_json_schema(spec) -> None:
    """Every schema in components is a valid draft 7 schema, inlined or not."""
    import asyncapi_check

    for name, schema in spec["components"]["schemas"].items():
        Draft7Validator.check_schema(schema)
        Draft7Validator.check_schema(asyncapi_check.inline(schema))
        assert "$schema" not in schema, name


def _examples() -> list[Any]:
    import asyncapi_check

    spec = asyncapi_check.spec()
    client = set(_messages_by_type(spec, "receive"))
    return [pytest.param(name, ex["payload"], "receive" if name in client else "send", id=f"{name}-{ex['name']}")
            for name, message in spec["components"]["messages"].items() for ex in message["examples"]]


@pytest.mark.parametrize(("name", "payload", "action"), _examples())
def test_example_validates_against_its_schema(name: str, payload: dict[str, Any], action: str) -> None:
    """Each example message is valid under its message's payload schema."""
    import asyncapi_check

    assert payload["type"] == name
    assert asyncapi_check.errors_of(payload, action) == []


def _hit_example() -> dict[str, Any]:
    import asyncapi_check

    return copy.deepcopy(asyncapi_check.spec()["components"]["messages"]["hit"]["examples"][0]["payload"])


def _drift(change: str) -> dict[str, Any]:
    msg = _hit_example()
    hit = msg["hit"]
    match change:
        case "extra-hit-field":
            hit["eta"] = 3
        case "missing-hit-field":
            del hit["read_count"]
        case "extra-detection-field":
            hit["detection"]["speed"] = 40
        case "extra-entry-vehicle-field":
            hit["entry"]["vehicle"]["vin"] = "1HGCM82633A004352"
        case "null-vehicle-member":
            hit["detection"]["vehicle"]["model"] = None
        case "unknown-status":
            hit["status"] = "confirmed"
        case "naive-time":
            hit["created_at"] = "2024-11-28 05:20:00"
        case "event-id-format":
            msg["event_id"] = "1732771200123"
        case "replayed-false":
            msg["replayed"] = False
        case "resent-zero":
            msg["resent"] = 0
        case "unknown-member":
            msg["seen"] = True
    return msg


@pytest.mark.parametrize("change", ["extra-hit-field", "missing-hit-field", "extra-detection-field",
                                    "extra-entry-vehicle-field", "null-vehicle-member", "unknown-status",
                                    "naive-time", "event-id-format", "replayed-false", "resent-zero",
                                    "unknown-member"])
def test_schemas_reject_drift(change: str) -> None:
    """A hit message that differs from the server's shape in any one way is invalid, so drift cannot pass."""
    import asyncapi_check

    assert asyncapi_check.errors_of(_drift(change)) != []


@pytest.mark.parametrize("msg", [
    {"type": "error", "error": "teapot", "detail": "x"}, {"type": "ping", "extra": 1}, {"type": "hello"},
    {"type": "replay_done", "count": -1, "truncated": False}, {"type": "mystery"}, ["hit"],
    {"type": "escalation", "event_id": "1-0", "reason": "late", "recipient": "unit:1", "hit": {}},
], ids=["error-code", "ping-member", "hello-empty", "negative-count", "unknown-type", "not-an-object", "escalation"])
def test_other_malformed_server_messages_are_invalid(msg: Any) -> None:  # noqa: ANN401
    """Unknown error codes, types, members and bad counts are not what the spec allows the server to send."""
    import asyncapi_check

    assert asyncapi_check.errors_of(msg) != []


def _alert_types() -> set[str]:
    """The alert types the server publishes to sockets: the literal first argument of every AlertEvent(...)."""
    found = set()
    for path in (ROOT / "server").rglob("*.py"):
        found |= set(re.findall(r'AlertEvent\(\s*"(\w+)"', path.read_text(encoding="utf-8")))
        found |= set(re.findall(r'AlertEvent\(\s*"\w+" if .*? else "(\w+)"', path.read_text(encoding="utf-8")))
    return found


def test_message_types_are_those_the_server_speaks(spec) -> None:
    """The client messages are exactly the server's decoder's; the server messages exactly what it sends."""
    from server.alerts import schemas

    client_tags = {t.__struct_config__.tag for t in schemas.ClientMessage.__args__}
    assert set(_messages_by_type(spec, "receive")) == client_tags
    alert_types = _alert_types()
    assert alert_types == {"hit", "hit_update", "supervisor_alert", "escalation", "audit_flag"}
    own = {s.__struct_config__.tag for s in (schemas.Hello, schemas.ErrorMessage, schemas.Ping, schemas.ReplayDone)}
    assert set(_messages_by_type(spec, "send")) == alert_types | own


def _field_names(struct: type) -> tuple[set[str], set[str]]:
    """A struct's encoded member names, and those always present (omit_defaults leaves defaults out)."""
    fields = msgspec.structs.fields(struct)
    names = {f.encode_name for f in fields}
    omits = struct.__struct_config__.omit_defaults
    required = {f.encode_name for f in fields if not omits or f.required}
    return names, required


def _struct_pairs() -> list[Any]:
    from server.alerts import schemas as alerts
    from server.hits import schemas as hits

    return [pytest.param(struct, name, id=name) for struct, name in [
        (hits.HitPublic, "Hit"), (hits.DetectionSummary, "Detection"), (hits.EntrySummary, "Entry"),
        (hits.LocationOut, "Location"), (hits.DescriptorMismatch, "DescriptorMismatch"),
        (hits.VehicleDescription, "VehicleDescription"), (alerts.HelloUser, "HelloUser"), (alerts.Hello, "Hello"),
        (alerts.ErrorMessage, "Error"), (alerts.ReplayDone, "ReplayDone"), (alerts.Ping, "Ping"),
        (alerts.AuthMessage, "Auth"), (alerts.AckMessage, "Ack"), (alerts.ResumeMessage, "Resume"),
        (alerts.PongMessage, "Pong")]]


@pytest.mark.parametrize(("struct", "schema_name"), _struct_pairs())
def test_schema_has_exactly_the_fields_of_the_server_struct(spec, struct: type, schema_name: str) -> None:
    """Each payload schema lists every member of the msgspec struct the server encodes, required as encoded."""
    schema = spec["components"]["schemas"][schema_name]
    names, required = _field_names(struct)
    tag = struct.__struct_config__.tag_field
    props = set(schema["properties"]) - ({tag} if tag else set())
    assert props == names, f"spec only: {props - names}; server only: {names - props}"
    assert set(schema.get("required", [])) - ({tag} if tag else set()) == required
    assert schema["additionalProperties"] is False


def test_enums_match_the_server(spec) -> None:
    """Categories, sources, roles, actions, outcomes and driver results are the server's own lists."""
    import typing

    from server.auth.models import ROLES
    from server.hits import routes, workflow
    from server.hotlist.models import CATEGORIES, SOURCES

    schemas = spec["components"]["schemas"]
    hit = schemas["Hit"]["properties"]
    assert set(schemas["Category"]["enum"]) == set(CATEGORIES)
    assert set(schemas["Entry"]["properties"]["source"]["enum"]) == set(SOURCES)
    assert set(schemas["HelloUser"]["properties"]["roles"]["items"]["enum"]) == set(ROLES)
    assert set(hit["action"]["enum"]) == {*workflow.ACTIONS, None}
    assert set(hit["outcome"]["enum"]) == {*workflow.OUTCOMES, None}
    assert set(hit["driver_result"]["enum"]) == {*workflow.DRIVER_RESULTS, None}
    assert set(hit["status"]["enum"]) == set(typing.get_args(routes.Status))


def _every_transition() -> tuple[set[str], set[str], set[str], set[str]]:
    """Every step event, status, awaited step and skipped step the workflow can produce, found by trying each
    step on every state."""
    from server.hits import workflow

    events, statuses, awaiting, skipped = set(), set(), set(), set()
    justification = "Vehicle fled the scene of an armed robbery"
    for linked, apsin, visual, driver, action, outcome in itertools.product(
            (False, True), (False, True), (False, True), (None, *workflow.DRIVER_RESULTS), (None, *workflow.ACTIONS),
            (None, *workflow.OUTCOMES)):
        state = workflow.HitState(linked, apsin, visual, driver, action, action is not None and not apsin, outcome)
        statuses.add(state.status)
        awaiting |= set(state.awaiting())
        tries = [lambda s=state, c=c: workflow.apsin(s, c) for c in (True, False)]
        tries += [lambda s=state, m=m: workflow.visual(s, *m) for m in itertools.product((True, False), repeat=3)]
        tries += [lambda s=state, m=m, b=b: workflow.driver(s, m, b) for m in (True, False) for b in (None, justification)]
        tries += [lambda s=state, a=a, j=j: workflow.action(s, a, j) for a in workflow.ACTIONS for j in (None, justification)]
        tries += [lambda s=state, o=o: workflow.close(s, o) for o in workflow.OUTCOMES]
        tries += [lambda s=state, o=o: workflow.withdraw(s, o) for o in ("no_longer_wanted", "entry_expired")]
        for attempt in tries:
            try:
                moved = attempt()
            except workflow.StepRefused:
                continue
            if moved is not None:
                events.add(moved.event)
                statuses.add(moved.state.status)
                skipped |= set(moved.data.get("skipped", []))
    return events, statuses, awaiting, skipped


def test_step_status_and_awaiting_enums_cover_the_workflow(spec) -> None:
    """hit_update.step, hit.status, hit.awaiting and supervisor_alert.skipped list every value the workflow makes."""
    events, statuses, awaiting, skipped = _every_transition()
    schemas = spec["components"]["schemas"]
    assert set(schemas["HitUpdateMessage"]["properties"]["step"]["enum"]) == events
    assert set(schemas["Hit"]["properties"]["status"]["enum"]) == statuses
    assert set(schemas["Hit"]["properties"]["awaiting"]["items"]["enum"]) == awaiting
    assert set(schemas["SupervisorAlertMessage"]["properties"]["skipped"]["items"]["enum"]) == skipped


def test_error_codes_and_close_codes_are_the_servers(spec) -> None:
    """The error codes are those the socket answers with; every application close code is documented."""
    from server.alerts import schemas

    routes = (ROOT / "server" / "alerts" / "routes.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'await error\("(\w+)"', routes))
    assert set(spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"]) == codes
    documented = {int(c) for c in spec["channels"]["alerts"]["x-alpr-close-codes"]}
    assert {schemas.CLOSE_UNAUTHORIZED, schemas.CLOSE_FORBIDDEN, schemas.CLOSE_TOO_SLOW} <= documented
    for code, entry in spec["channels"]["alerts"]["x-alpr-close-codes"].items():
        assert entry["meaning"] and entry["client_action"], code


def test_reconnect_advice_is_concrete(spec) -> None:
    """The spec gives numbers for back-off and for when a silent connection is dead."""
    from server.alerts.routes import PING_SECONDS

    advice = spec["channels"]["alerts"]["x-alpr-reconnect"]
    assert 0 < advice["base_seconds"] < advice["cap_seconds"] <= 60
    assert advice["jitter"] == "full"
    assert advice["silence_timeout_seconds"] > 2 * PING_SECONDS


def test_client_guide_covers_every_message_and_close_code(spec) -> None:
    """The client guide names every message type, every application close code and every verification step."""
    guide = GUIDE_FILE.read_text(encoding="utf-8")
    for name in spec["components"]["messages"]:
        assert f'"{name}"' in guide or f"`{name}`" in guide, f"the guide never mentions {name}"
    for code in ("4401", "4403", "4408"):
        assert code in guide
    for step in ("apsin", "visual", "driver", "action", "close", "auth/token", "auth/refresh"):
        assert f"/{step}" in guide, step
    assert "409" in guide
