"""clients/mobile_api_spec/openapi.json: valid OpenAPI, and exactly what the routes generate (no server started)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from litestar import get, post
from litestar.params import FromPath, JSONBody
from openapi_spec_validator import validate

from server import openapi_spec
from server.app import create_app
from server.hits.routes import HitController
from server.hits.schemas import ApsinStep, HitDetail
from server.openapi_spec import SPEC_FILE, build_document, generate, render, spec_diff
from server.settings import load_settings

STEPS = ("apsin", "visual", "driver", "action", "close")


class ApsinStepWithTerminal(ApsinStep, forbid_unknown_fields=True):
    """The APSIN step as a change might extend it."""

    terminal_id: str | None = None


class _ChangedHits(HitController):
    """HitController with the APSIN step's body changed, as a developer might without regenerating the spec."""

    @post("/{hit_id:int}/apsin", status_code=200)
    async def apsin(self, hit_id: FromPath[int], data: JSONBody[ApsinStepWithTerminal]) -> HitDetail:  # type: ignore[override]
        raise NotImplementedError


@pytest.fixture(scope="module")
def generated() -> str:
    """The document the code generates now (built once: each build takes a few hundred ms)."""
    return generate()


@pytest.fixture(scope="module")
def committed() -> str:
    return SPEC_FILE.read_text()


@pytest.fixture(scope="module")
def doc(committed: str) -> dict[str, Any]:
    return json.loads(committed)


def _app(tmp_path: Path):  # noqa: ANN202
    return create_app(load_settings({}, data_dir=tmp_path, log_level="WARNING"))


def test_committed_spec_equals_what_the_code_generates(generated: str, committed: str) -> None:
    """The committed file is byte for byte what `python -m server.openapi_spec` writes from the routes now."""
    diff = spec_diff(committed, generated)
    assert not diff, f"openapi.json is out of date; run `{openapi_spec.REGENERATE}` and commit it:\n{diff[:6000]}"


def test_committed_spec_is_valid_openapi(doc: dict[str, Any]) -> None:
    """openapi-spec-validator accepts the committed document as OpenAPI 3.1."""
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_an_added_route_shows_as_a_difference(tmp_path: Path, generated: str) -> None:
    """A route the committed file does not describe makes the drift check fail with a diff naming it."""

    @get("/api/v1/units/{unit_id:int}/radio", summary="A route added without regenerating the spec")
    async def radio(unit_id: FromPath[int]) -> dict[str, str]:
        return {"channel": "7"}

    app = _app(tmp_path)
    app.register(radio)
    diff = spec_diff(generated, generate(app))
    assert diff.startswith("--- openapi.json (committed)")
    assert '+    "/api/v1/units/{unit_id}/radio": {' in diff, diff[:3000]


def test_a_changed_request_schema_shows_as_a_difference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        generated: str) -> None:
    """An existing route whose body gains a field makes the drift check fail with a diff naming the field."""
    monkeypatch.setattr("server.app.HitController", _ChangedHits)
    diff = spec_diff(generated, generate(_app(tmp_path)))
    assert "terminal_id" in diff and "ApsinStepWithTerminal" in diff, diff[:3000]


def test_check_mode_exits_1_with_a_diff_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], generated: str) -> None:
    """`--check` exits 1 and prints a unified diff when the file differs, 0 when it agrees; it never writes."""
    monkeypatch.setattr(openapi_spec, "generate", lambda app=None: generated)
    stale = tmp_path / "openapi.json"
    stale.write_text(generated.replace('"title": "ALPR server"', '"title": "ALPR server (old)"'))
    assert openapi_spec.main(["--check", "--output", str(stale)]) == 1
    out = capsys.readouterr().out
    assert '-    "title": "ALPR server (old)",' in out and '+    "title": "ALPR server",' in out
    assert "(old)" in stale.read_text()

    fresh = tmp_path / "fresh.json"
    assert openapi_spec.main(["--output", str(fresh)]) == 0
    assert fresh.read_text() == generated
    assert openapi_spec.main(["--check", "--output", str(fresh)]) == 0


def test_render_is_stable_and_sorted() -> None:
    """The same document renders to the same text whatever the key order, ending in one newline."""
    a = render({"b": 1, "a": {"d": [2, 1], "c": None}})
    assert a == render({"a": {"c": None, "d": [2, 1]}, "b": 1})
    assert a.endswith("}\n") and a.index('"a"') < a.index('"b"')


def test_every_call_but_sign_in_and_health_names_its_token(doc: dict[str, Any]) -> None:
    """Security schemes: a person's bearer JWT everywhere, the device token on detections, none on public calls."""
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["deviceToken"]["scheme"] == "bearer"
    public = {"/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/device-token", "/healthz", "/readyz",
              "/metrics"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path in public:
                assert op["security"] == [], (method, path)
            elif path == "/api/v1/detections":
                assert op["security"] == [{"deviceToken": []}]
            else:
                assert op["security"] == [{"bearer": []}], (method, path)
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_errors_are_documented_in_the_error_detail_shape(doc: dict[str, Any]) -> None:
    """4xx answers point at {error, detail} schemas; the hit steps' 409 carries `missing`."""
    schemas, responses = doc["components"]["schemas"], doc["components"]["responses"]
    assert schemas["Error"]["required"] == ["error", "detail"]
    assert "missing" in schemas["StepRefused"]["properties"]
    assert responses["StepRefused"]["content"]["application/json"]["example"]["error"] == "verification_required"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if status.startswith("4"):
                    assert response["$ref"].startswith("#/components/responses/"), (method, path, status)
            if "requestBody" in op or op.get("parameters"):
                assert "422" in op["responses"], (method, path)
            if "{" in path:
                assert "404" in op["responses"], (method, path)
    for step in STEPS:
        op = doc["paths"][f"/api/v1/hits/{{hit_id}}/{step}"]["post"]
        assert op["responses"]["409"] == {"$ref": "#/components/responses/StepRefused"}, step


def test_request_examples_exist_and_fit_their_schemas(doc: dict[str, Any]) -> None:
    """Detections, hot-list entries and every verification step carry examples, each valid against its schema."""
    wanted = [("post", "/api/v1/detections"), ("post", "/api/v1/hotlist/entries"),
              *(("post", f"/api/v1/hits/{{hit_id}}/{step}") for step in STEPS)]
    for method, path in wanted:
        assert doc["paths"][path][method]["requestBody"]["content"]["application/json"].get("examples"), path
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, example in media.get("examples", {}).items():
                validator = Draft202012Validator({**media["schema"], "components": doc["components"]},
                                                 format_checker=Draft202012Validator.FORMAT_CHECKER)
                errors = [e.message for e in validator.iter_errors(example["value"])]
                assert not errors, (method, path, name, errors)
                checked += 1
    assert checked >= 20


def test_detections_body_is_one_read_or_a_batch(doc: dict[str, Any]) -> None:
    """POST /api/v1/detections (decoded by hand) documents both bodies, 201 and the 200 of a resend."""
    op = doc["paths"]["/api/v1/detections"]["post"]
    assert doc["components"]["schemas"]["DetectionRequest"]["oneOf"] == [
        {"$ref": "#/components/schemas/DetectionCreate"}, {"$ref": "#/components/schemas/DetectionBatch"}]
    assert {"200", "201", "401", "403", "422"} <= set(op["responses"])
    assert doc["components"]["schemas"]["DetectionCreate"]["additionalProperties"] is False


def test_patterns_are_ecma_regexes(doc: dict[str, Any]) -> None:
    """msgspec's Python-only \\A and \\Z anchors become ^ and $, which clients' regex engines understand."""
    text = json.dumps(doc)
    assert "\\\\A" not in text and "\\\\Z" not in text
    assert '"pattern": "^[^\\\\x00-\\\\x1f\\\\x7f]*$"' in text


def test_websocket_is_described_and_points_to_asyncapi(doc: dict[str, Any]) -> None:
    """The alert socket, absent from paths, is described in the info and the alerts tag, pointing to asyncapi.yaml."""
    assert "/ws/alerts" in doc["info"]["description"] and "asyncapi.yaml" in doc["info"]["description"]
    alerts = next(t for t in doc["tags"] if t["name"] == "alerts")
    assert alerts["externalDocs"]["url"] == "asyncapi.yaml"
    assert "/ws/alerts" not in doc["paths"]


def test_build_document_does_not_depend_on_the_environment(monkeypatch: pytest.MonkeyPatch, generated: str) -> None:
    """ALPR_* settings of the machine that generates the file change nothing in it."""
    monkeypatch.setenv("ALPR_RETENTION_DAYS", "30")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://nowhere/none")
    assert render(build_document()) == generated
