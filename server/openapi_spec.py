"""The OpenAPI document of the HTTP API, generated from the application's routes and committed for clients.

`python -m server.openapi_spec` writes clients/mobile_api_spec/openapi.json; with `--check` it writes nothing
and exits 1 with a unified diff when the committed file differs from what the code generates (CI runs the
same comparison as a test). The document is Litestar's own schema of the routes, plus what Litestar cannot
know: who may call what (security schemes), the `{error, detail}` answers each route gives, the body of
POST /api/v1/detections (decoded by hand: one detection or a batch share the URL), request examples, and the
websocket (described in asyncapi.yaml beside this file).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from litestar import Litestar

ROOT = Path(__file__).resolve().parents[1]
SPEC_FILE = ROOT / "clients" / "mobile_api_spec" / "openapi.json"
REGENERATE = "python -m server.openapi_spec"

Operation = tuple[str, str]  # (method in lower case, OpenAPI path)

USER_SCHEME, DEVICE_SCHEME = "bearer", "deviceToken"
# Calls a dash camera makes with its device token; every other authenticated call takes a user's token.
DEVICE_OPERATIONS: frozenset[Operation] = frozenset({("post", "/api/v1/detections")})
# The sign-in calls need no token, but answer 401 (and some 403) for bad credentials.
SIGN_IN_ERRORS: dict[Operation, tuple[int, ...]] = {
    ("post", "/api/v1/auth/token"): (401, 403),
    ("post", "/api/v1/auth/refresh"): (401,),
    ("post", "/api/v1/auth/device-token"): (401, 403),
}
# A unit named in the body that does not exist is a 404, as for ids in the path.
BODY_NOT_FOUND: frozenset[Operation] = frozenset({("post", "/api/v1/users"), ("post", "/api/v1/cameras"),
                                                  ("post", "/api/v1/exports")})
# 409: the resource exists in a state that refuses the call.
CONFLICTS: dict[Operation, str] = {
    ("post", "/api/v1/users"): "username_taken",
    ("post", "/api/v1/units"): "call_sign_taken",
    ("delete", "/api/v1/hotlist/entries/{entry_id}"): "already_removed",
    ("delete", "/api/v1/suppressions/{suppression_id}"): "already_lifted",
    ("post", "/api/v1/cases"): "case_exists",
    ("post", "/api/v1/cases/{case_number}/detections"): "case_closed",
    ("post", "/api/v1/cases/{case_number}/close"): "case_closed",
    ("post", "/api/v1/retention/run"): "purge_running",
    ("post", "/api/v1/exports/{export_id}/approve"): "not_pending",
    ("get", "/api/v1/exports/{export_id}/bundle"): "already_produced",
    ("get", "/api/v1/detections/{detection_id}/images/{kind}"): "image_unreadable",
}
STEP_PATH = re.compile(r"^/api/v1/hits/\{hit_id\}/(apsin|visual|driver|action|close)$")
# 503 while the server shuts down: the camera resends the read (to this server later, or another).
SHUTTING_DOWN: frozenset[Operation] = frozenset({("post", "/api/v1/detections")})

INFO_DESCRIPTION = """\
The HTTP API of the ALPR server: dash cameras post plate reads; officers (mobile data terminals), dispatch
and the RTCC read and verify hits; administrators manage accounts, units and cameras.

**Authentication.** Every call except sign-in and the health checks sends `Authorization: Bearer <token>`:
a person's access token from `POST /api/v1/auth/token` (scheme `bearer`), or a dash camera's device token from
`POST /api/v1/auth/device-token` (scheme `deviceToken`, accepted only by `POST /api/v1/detections`). Tokens
never go in a URL. A person also needs recorded ALPR training and the Chief's access grant: without them
every call answers 403 (`training_required`, `access_not_granted`).

**Errors.** Every 4xx (and 5xx) answer is `{"error": "<machine code>", "detail": "<what a person can act
on>"}`, sometimes with more fields (`errors` naming each bad field of a 422, `missing` naming the
verification steps a 409 `verification_required` still needs). Bad input is never a 500.

**Live alerts.** `GET /ws/alerts` is a websocket (not listed below): the server pushes `hello`, `hit`,
`hit_update` and `ping` messages; the client sends `ack` and `resume`. It authenticates with the same
`Authorization` header, or from a browser with a first message `{"type": "auth", "token": "..."}`. Its
messages are specified in [asyncapi.yaml](asyncapi.yaml), beside this file.

This file is generated from the server's routes (`python -m server.openapi_spec`); a test fails when the
two disagree.
"""

TAGS = [
    {"name": "auth", "description": "Sign-in, token refresh and dash-camera device tokens."},
    {"name": "administration", "description": "Accounts, ALPR training records, access grants, units and "
                                              "dash cameras."},
    {"name": "detections", "description": "Plate reads posted by dash cameras."},
    {"name": "hot list", "description": "Vehicles of interest: added with a case number and justification, "
                                        "removed with a reason."},
    {"name": "hits", "description": "Matches of reads against the hot list, and their verification (policy "
                                    "C.1-C.4): APSIN/NCIC confirmation, visual match, driver check, action, "
                                    "closure. A step out of order answers 409 `verification_required` naming "
                                    "the `missing` steps."},
    {"name": "alerts", "description": "GET /ws/alerts, the live alert websocket, is specified in asyncapi.yaml "
                                      "beside this file.",
     "externalDocs": {"description": "AsyncAPI description of /ws/alerts", "url": "asyncapi.yaml"}},
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics; no token needed."},
    {"name": "investigation", "description": "Search of stored reads and record views: each states a case number, "
                                             "a purpose from the list and a sentence of detail (a vague one is a "
                                             "422), and is written to the audit trail."},
    {"name": "cases", "description": "Criminal cases and the detections they hold past the retention period."},
    {"name": "retention", "description": "The purge of expired detections and the daily ledger of counts."},
    {"name": "exports", "description": "Evidence exports: requested, approved by the Chief (policy F.4), "
                                       "produced once."},
    {"name": "audit", "description": "The hash-chained audit trail: query, export, verify; flags for review."},
]

ERROR_CODE = {"type": "string", "description": "Machine code, stable across releases (snake_case)"}
ERROR_DETAIL = {"type": "string", "description": "What went wrong, in a sentence a person can act on"}
STEP_NAMES = ["apsin", "visual", "driver", "action"]
HIT_STATUSES = ["pending", "apsin_confirmed", "visually_confirmed", "verified", "action_taken", "closed"]

ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "title": "Error",
        "description": "Every error answer. Some carry more fields, described with the response.",
        "required": ["error", "detail"],
        "properties": {"error": ERROR_CODE, "detail": ERROR_DETAIL},
        "additionalProperties": True,
    },
    "ValidationError": {
        "type": "object",
        "title": "ValidationError",
        "description": "422: the request broke the contract; `detail` names the first bad field, `errors` (when "
                       "present) each of them.",
        "required": ["error", "detail"],
        "properties": {
            "error": {**ERROR_CODE, "enum": ["validation_error"]},
            "detail": ERROR_DETAIL,
            "errors": {"type": "array", "items": {
                "type": "object",
                "required": ["field", "detail"],
                "properties": {
                    "field": {"type": "string", "description": "Path of the field, e.g. detections[3].location.lat"},
                    "detail": {"type": "string"},
                    "index": {"type": "integer", "description": "Which detection of a batch"},
                },
                "additionalProperties": True,
            }},
        },
        "additionalProperties": True,
    },
    "StepRefused": {
        "type": "object",
        "title": "StepRefused",
        "description": "409 from a verification step: `verification_required` (with the `missing` steps), "
                       "`already_done`, `hit_closed`, `not_applicable`, or `changed_meanwhile` (someone recorded "
                       "a step at the same moment: reload and retry).",
        "required": ["error", "detail"],
        "properties": {
            "error": {**ERROR_CODE, "enum": ["verification_required", "already_done", "hit_closed",
                                             "not_applicable", "changed_meanwhile"]},
            "detail": ERROR_DETAIL,
            "missing": {"type": "array", "items": {"type": "string", "enum": STEP_NAMES},
                        "description": "The steps still needed before this one, in the order to take them"},
            "hit_status": {"type": "string", "enum": HIT_STATUSES},
        },
        "additionalProperties": True,
    },
    "Readiness": {
        "type": "object",
        "title": "Readiness",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "not_ready"]},
            "checks": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "database and redis: \"ok\" or what failed"},
        },
    },
}


def _error_response(description: str, schema: str = "Error", example: dict[str, Any] | None = None,
                    ) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {"application/json": media}}


ERROR_RESPONSES: dict[str, dict[str, Any]] = {
    "BadRequest": _error_response(
        "The body is not valid JSON (`malformed_json`, `bad_request`).",
        example={"error": "malformed_json", "detail": "the body is not valid JSON: Input data was truncated"}),
    "Unauthorized": _error_response(
        "No token, or one that is invalid or expired (`unauthorized`, `invalid_token`); wrong credentials on "
        "sign-in (`invalid_credentials`).",
        example={"error": "unauthorized", "detail": "send Authorization: Bearer <token>"}),
    "Forbidden": _error_response(
        "The caller may not make this call: a role it lacks or a camera token on a person's call (`forbidden`), "
        "no recorded ALPR training (`training_required`), no access grant (`access_not_granted`), a disabled "
        "camera or account (`camera_disabled`, `account_disabled`).",
        example={"error": "training_required",
                 "detail": "officer1 has no recorded ALPR training (policy A.3); ask an administrator to record it"}),
    "NotFound": _error_response(
        "What the path (or a unit named in the body) refers to does not exist.",
        example={"error": "not_found", "detail": "hit 42 does not exist"}),
    "Conflict": _error_response(
        "The resource's state refuses the call (e.g. `already_removed`, `username_taken`)."),
    "StepRefused": _error_response(
        "The hit's state refuses this step; `verification_required` names the `missing` steps.",
        schema="StepRefused",
        example={"error": "verification_required",
                 "detail": "before an enforcement action: APSIN/NCIC status confirmation (C.1, C.4)",
                 "missing": ["apsin"], "hit_status": "visually_confirmed"}),
    "ValidationFailed": _error_response(
        "The request breaks the contract or a rule; `detail` names the field.", schema="ValidationError",
        example={"error": "validation_error", "detail": "case_number: a case or incident number is required"}),
    "ShuttingDown": _error_response(
        "The server is shutting down (`shutting_down`): resend the same body later or to another server.",
        example={"error": "shutting_down",
                 "detail": "the server is shutting down; resend this read to it or another server"}),
}

_NOW = "2026-03-14T21:07:33-08:00"
_DETECTION = {
    "id": "5b0f1e1c-8a1d-4d7e-9a43-0c4d2b7f9e11", "plate": "ABC1234", "state": "AK", "confidence": 0.93,
    "captured_at": _NOW, "location": {"lat": 61.2176, "lon": -149.8997, "heading": 270},
    "vehicle": {"make": "TOYT", "model": "TAC", "color": "BLK", "type": "PK", "features": ["roof rack"]},
}

# Request examples, by operation: name -> (summary, body).
REQUEST_EXAMPLES: dict[Operation, dict[str, tuple[str, Any]]] = {
    ("post", "/api/v1/auth/token"): {
        "sign_in": ("An officer signs in", {"username": "officer1", "password": "correct-horse-battery"})},
    ("post", "/api/v1/auth/refresh"): {
        "refresh": ("Trade the refresh token for a new pair", {"refresh_token": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"})},
    ("post", "/api/v1/auth/device-token"): {
        "camera": ("A dash camera gets its token", {"camera_id": "cam-3f9a1c2b7d4e",
                                                    "secret": "q2Vx4yq8oX9p7tQnR1mZs0kLw3HfJ5bC6dE7gA8iU9o"})},
    ("post", "/api/v1/users"): {
        "officer": ("A patrol officer of unit 1", {
            "username": "officer1", "password": "correct-horse-battery", "display_name": "Dana Officer",
            "badge_number": "4711", "roles": ["officer"], "unit_id": 1})},
    ("post", "/api/v1/users/{user_id}/training"): {
        "training": ("Training completed", {"completed_at": "2026-03-01T09:00:00-09:00"})},
    ("post", "/api/v1/users/{user_id}/access-grant"): {
        "grant": ("The Chief grants access", {"granted": True, "note": "RTCC staffing, approved by the Chief"})},
    ("post", "/api/v1/units"): {"unit": ("A patrol unit", {"call_sign": "1A12"})},
    ("post", "/api/v1/cameras"): {"camera": ("A dash camera for unit 1", {"unit_id": 1, "label": "dash"})},
    ("patch", "/api/v1/cameras/{camera_id}"): {"disable": ("Disable a camera", {"enabled": False})},
    ("post", "/api/v1/detections"): {
        "single": ("One read", _DETECTION),
        "batch": ("A batch of buffered reads (up to 1,000)", {"detections": [
            _DETECTION,
            {"id": "0c7d4a52-3e1b-4f25-8c0e-7b9a6d3f2a10", "plate": "XYZ987", "state": None, "confidence": 0.71,
             "captured_at": "2026-03-14T21:08:02-08:00", "location": {"lat": 61.2181, "lon": -149.9012}},
        ]}),
    },
    ("post", "/api/v1/hotlist/entries"): {
        "stolen_vehicle": ("A stolen vehicle from NCIC", {
            "plate": "ABC1234", "state": "AK", "category": "stolen_vehicle", "source": "NCIC",
            "case_number": "24-001234", "justification": "Reported stolen from a driveway on 5th Avenue",
            "priority": 2, "vehicle": {"year": 2019, "make": "TOYT", "model": "TAC", "color": "BLK", "type": "PK"}}),
        "amber_alert": ("An Amber alert (person-linked: needs the driver step)", {
            "plate": "KJT552", "state": "AK", "category": "amber_alert", "source": "AMBER",
            "case_number": "24-004411", "justification": "Child abducted from Midtown; suspect vehicle per witness",
            "subject": "Adult male, about 40, red jacket"}),
    },
    ("delete", "/api/v1/hotlist/entries/{entry_id}"): {
        "recovered": ("The vehicle was recovered", {"reason": "Vehicle recovered by the owner"})},
    ("post", "/api/v1/hits/{hit_id}/apsin"): {
        "confirmed": ("Dispatch confirmed the plate is still wanted", {
            "confirmed": True, "reference": "APSIN-20260314-0117", "note": "Still listed as stolen"}),
        "not_confirmed": ("No longer wanted: closes the hit", {"confirmed": False, "reference": "NCIC-8841"}),
    },
    ("post", "/api/v1/hits/{hit_id}/visual"): {
        "match": ("Plate, state and vehicle match", {"plate_matches": True, "state_matches": True,
                                                     "vehicle_matches": True}),
        "misread": ("The camera misread the plate: closes the hit and suppresses the pair for the shift", {
            "plate_matches": False, "state_matches": True, "vehicle_matches": True, "note": "Plate reads ABC1284"}),
    },
    ("post", "/api/v1/hits/{hit_id}/driver"): {
        "matched": ("The driver matches the subject", {"matched": True}),
        "other_basis": ("Another legal basis for the stop", {
            "matched": False, "other_legal_basis": "Driver ran a red light at 5th and Gambell"}),
    },
    ("post", "/api/v1/hits/{hit_id}/action"): {
        "stop": ("A stop after both confirmations", {"action": "stop"}),
        "exigent": ("A stop before confirmation, under exigent circumstances (alerts a supervisor)", {
            "action": "stop", "exigent": {"justification": "Vehicle fleeing toward the school zone at speed"}}),
    },
    ("post", "/api/v1/hits/{hit_id}/close"): {
        "completed": ("Closed after the action", {"outcome": "action_completed", "note": "Vehicle recovered"})},
    ("delete", "/api/v1/suppressions/{suppression_id}"): {
        "lift": ("A supervisor lifts a suppression", {"reason": "The plate was re-issued; reads are real again"})},
}

# The schemas of POST /api/v1/detections, which decodes its body by hand.
DETECTION_REQUEST = "DetectionRequest"


def _detection_components() -> dict[str, Any]:
    from server.detections.schemas import BatchIngestResult, DetectionBatch, DetectionCreate, IngestResult

    (_, _, _, _), components = msgspec.json.schema_components(
        [DetectionCreate, DetectionBatch, IngestResult, BatchIngestResult],
        ref_template="#/components/schemas/{name}")
    # Each hit in an answer is the hit as GET /api/v1/hits/{id} shows it.
    components["IngestResult"]["properties"]["hits"]["items"] = {"$ref": "#/components/schemas/HitPublic"}
    components[DETECTION_REQUEST] = {
        "title": DETECTION_REQUEST,
        "description": "One detection, or a batch {\"detections\": [...]} of up to 1,000.",
        "oneOf": [{"$ref": "#/components/schemas/DetectionCreate"}, {"$ref": "#/components/schemas/DetectionBatch"}],
    }
    return components


def _closed_struct_names(types: list[Any]) -> set[str]:
    """Names of the msgspec Structs, reachable from these types, that refuse unknown fields (a 422 names them)."""
    from msgspec import inspect as mi

    names: set[str] = set()
    seen: set[type] = set()

    def walk(t: mi.Type) -> None:
        if isinstance(t, mi.Metadata):
            walk(t.type)
        elif isinstance(t, mi.StructType):
            if t.cls not in seen:
                seen.add(t.cls)
                if t.forbid_unknown_fields:
                    names.add(t.cls.__name__)
                for f in t.fields:
                    walk(f.type)
        elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            walk(t.item_type)
        elif isinstance(t, mi.DictType):
            walk(t.value_type)
        elif isinstance(t, mi.TupleType):
            for item in t.item_types:
                walk(item)
        elif isinstance(t, mi.UnionType):
            for item in t.types:
                walk(item)

    for info in mi.multi_type_info(types):
        walk(info)
    return names


def _request_body_types(app: Litestar) -> list[Any]:
    from litestar.routes import HTTPRoute

    from server.detections.schemas import DetectionBatch, DetectionCreate

    found: list[Any] = [DetectionCreate, DetectionBatch]
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                data = handler.parsed_fn_signature.parameters.get("data")
                if data is not None:
                    found.append(data.annotation)
    return found


def _detection_operation(op: dict[str, Any]) -> None:
    body = {"oneOf": [{"$ref": "#/components/schemas/IngestResult"},
                      {"$ref": "#/components/schemas/BatchIngestResult"}]}
    op["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{DETECTION_REQUEST}"}}}}
    op["responses"] = {
        "201": {"description": "Stored: the read's id and the hits it raised (a batch: one result per read).",
                "content": {"application/json": {"schema": body}}},
        "200": {"description": "A resend of a known id: the stored result; nothing new is stored.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestResult"}}}},
    }


def _operations(doc: dict[str, Any]) -> Iterator[tuple[Operation, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}:
                yield (method, path), op


def _public_operations(app: Litestar) -> set[Operation]:
    """Operations whose handler skips the token middleware (opt exclude_from_auth), as the middleware decides."""
    from litestar.routes import HTTPRoute

    public = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("exclude_from_auth"):
                public.update((m.lower(), route.path_format) for m in handler.http_methods)
    return public


# msgspec patterns are Python regexes anchored with \A and \Z; JSON Schema patterns are ECMA-262, where \A and
# \Z mean the letters A and Z. Without a multiline flag ECMA's ^ and $ anchor at the ends of the whole string.
_PY_ANCHORED = re.compile(r"^\\A(?P<body>.*)\\Z$", re.S)


def _ecma_patterns(node: Any) -> None:  # noqa: ANN401
    if isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            m = _PY_ANCHORED.match(pattern)
            if m is None and ("\\A" in pattern or "\\Z" in pattern):
                raise ValueError(f"pattern {pattern!r} uses Python-only anchors; anchor it as \\A...\\Z")
            if m is not None:
                node["pattern"] = f"^{m['body']}$"
        for value in node.values():
            _ecma_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _ecma_patterns(value)


def _normalise_numbers(node: Any) -> Any:  # noqa: ANN401
    """500.0 -> 500: Litestar writes float bounds for integer fields; keep the file's numbers as written."""
    if isinstance(node, dict):
        return {k: _normalise_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalise_numbers(v) for v in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node


def build_document(app: Litestar | None = None) -> dict[str, Any]:
    """The complete OpenAPI document for an application (by default the server's, built without starting it)."""
    if app is None:
        return _build_for_default_app()
    doc = copy.deepcopy(app.openapi_schema.to_schema())
    public = _public_operations(app)
    doc["info"]["description"] = INFO_DESCRIPTION
    doc["tags"] = copy.deepcopy(TAGS)

    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    extra = {**_detection_components(), **copy.deepcopy(ERROR_SCHEMAS)}
    clash = sorted(set(extra) & set(schemas))
    if clash:
        raise ValueError(f"schema names generated twice: {', '.join(clash)}")
    schemas.update(extra)
    # Request bodies refuse unknown fields (forbid_unknown_fields): say so, or generated clients add some.
    for name in sorted(_closed_struct_names(_request_body_types(app))):
        if name not in schemas:
            raise ValueError(f"request body {name} has no schema component")
        schemas[name]["additionalProperties"] = False
    components["responses"] = copy.deepcopy(ERROR_RESPONSES)
    components["securitySchemes"] = {
        USER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                      "description": "A person's access token from POST /api/v1/auth/token or /api/v1/auth/refresh."},
        DEVICE_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                        "description": "A dash camera's device token from POST /api/v1/auth/device-token; "
                                       "accepted by POST /api/v1/detections only."},
    }
    doc["security"] = [{USER_SCHEME: []}]

    for key, op in _operations(doc):
        method, path = key
        if key in DEVICE_OPERATIONS:
            _detection_operation(op)
            op["tags"] = ["detections"]
        responses = op.setdefault("responses", {})
        # Litestar documents its own 400 shape; this server answers every error as {error, detail}.
        responses.pop("400", None)

        def ref(status: int, name: str, _responses: dict[str, Any] = responses) -> None:
            _responses[str(status)] = {"$ref": f"#/components/responses/{name}"}

        params = op.get("parameters", [])
        has_body = "requestBody" in op
        if key in public:
            op["security"] = []
            for status in SIGN_IN_ERRORS.get(key, ()):
                ref(status, "Unauthorized" if status == 401 else "Forbidden")
        else:
            op["security"] = [{DEVICE_SCHEME if key in DEVICE_OPERATIONS else USER_SCHEME: []}]
            ref(401, "Unauthorized")
            ref(403, "Forbidden")
        if has_body:
            ref(400, "BadRequest")
        if has_body or params:
            ref(422, "ValidationFailed")
        if any(p.get("in") == "path" for p in params) or key in BODY_NOT_FOUND:
            ref(404, "NotFound")
        if method == "post" and STEP_PATH.match(path):
            ref(409, "StepRefused")
        elif key in CONFLICTS:
            ref(409, "Conflict")
        if key in SHUTTING_DOWN:
            ref(503, "ShuttingDown")
        if has_body and key in REQUEST_EXAMPLES:
            media = op["requestBody"]["content"]["application/json"]
            media["examples"] = {name: {"summary": summary, "value": value}
                                 for name, (summary, value) in REQUEST_EXAMPLES[key].items()}

    _operation_specifics(doc)
    _ecma_patterns(doc)
    return _normalise_numbers(doc)


def _operation_specifics(doc: dict[str, Any]) -> None:
    """What Litestar cannot see in handlers that return a Response or a bare dict."""
    paths = doc["paths"]
    if "/readyz" in paths:
        ready = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}
        paths["/readyz"]["get"]["responses"] = {
            "200": {"description": "Database and Redis reachable, hot-list index present", **ready},
            "503": {"description": "Not ready: `checks` says what failed", **copy.deepcopy(ready)},
        }
    # Optional bodies (a reason, a note): Litestar marks every declared body required.
    for path in ("/api/v1/cases/{case_number}/close", "/api/v1/exports/{export_id}/approve"):
        if path in paths:
            paths[path]["post"]["requestBody"]["required"] = False
    binary = {"schema": {"type": "string", "format": "binary"}}
    image = "/api/v1/detections/{detection_id}/images/{kind}"
    if image in paths:
        paths[image]["get"]["responses"]["200"]["content"] = {"image/jpeg": binary, "image/png": copy.deepcopy(binary)}
    if "/api/v1/audit/export" in paths:
        paths["/api/v1/audit/export"]["get"]["responses"]["200"]["content"] = {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEventPublic"}}}}
    if "/healthz" in paths:
        paths["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
            "type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}


def _build_for_default_app() -> dict[str, Any]:
    from server.app import create_app
    from server.settings import load_settings

    # An empty environment: the document never depends on the machine that generates it. Building the app
    # opens no database or Redis; that happens in its lifespan, which never runs here.
    with tempfile.TemporaryDirectory(prefix="alpr-openapi-") as data_dir:
        return build_document(create_app(load_settings({}, data_dir=Path(data_dir), log_level="WARNING")))


def render(doc: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate(app: Litestar | None = None) -> str:
    return render(build_document(app))


def spec_diff(committed: str, generated: str, name: str = "openapi.json") -> str:
    """A unified diff from the committed text to the generated one; empty when they agree."""
    return "".join(difflib.unified_diff(committed.splitlines(keepends=True), generated.splitlines(keepends=True),
                                        fromfile=f"{name} (committed)", tofile=f"{name} (generated from the code)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a diff when the file differs from the code")
    parser.add_argument("--output", type=Path, default=SPEC_FILE, help=f"default: {SPEC_FILE.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    generated = generate()
    if args.check:
        committed = args.output.read_text() if args.output.exists() else ""
        diff = spec_diff(committed, generated, args.output.name)
        if diff:
            sys.stdout.write(diff)
            sys.stderr.write(f"{args.output} is out of date with the routes; run `{REGENERATE}` and commit it\n")
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
