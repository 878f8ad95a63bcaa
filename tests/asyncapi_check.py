"""Every /ws/alerts message a test receives, checked against clients/mobile_api_spec/asyncapi.yaml.

`AlertSocket` (tests/support.py) hands each message it receives to `record_server_message`; a message the
spec does not describe is kept in `violations`, and tests/conftest.py fails the test it arrived in (and the
session). The spec is read once and its validators built on first use; a hit message takes about 0.35 ms to
check (the alert suite's 1,650 messages, about half a second).
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

SPEC_PATH = Path(__file__).resolve().parents[1] / "clients" / "mobile_api_spec" / "asyncapi.yaml"
SERVER_SENDS, CLIENT_SENDS = "send", "receive"  # operation actions, from the server's point of view


@dataclass(frozen=True)
class Violation:
    test: str
    message: Any
    errors: tuple[str, ...]

    def describe(self) -> str:
        text = repr(self.message)
        text = text if len(text) <= 600 else text[:600] + "..."
        return f"{self.test or '(outside a test)'}: {text}\n" + "\n".join(f"    - {e}" for e in self.errors)


violations: list[Violation] = []  # not yet reported as a test's failure
reported: list[Violation] = []  # already failed a test
counts: Counter[str] = Counter()


@functools.cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def resolve(ref: str) -> Any:  # noqa: ANN401
    """The part of the spec a local `#/...` reference points at."""
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are used in the spec, not {ref!r}")
    node: Any = spec()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(node: Any) -> Any:  # noqa: ANN401
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(node["$ref"])
    return node


def inline(node: Any) -> Any:  # noqa: ANN401
    """A schema with every `$ref` replaced by what it points at (the spec's schemas are not recursive; as in
    draft 7, members beside a `$ref` are ignored). Validating against it is a third faster than through refs."""
    if isinstance(node, dict):
        if "$ref" in node:
            return inline(resolve(node["$ref"]))
        return {k: inline(v) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v) for v in node]
    return node


def schema_validator(pointer: str) -> Draft7Validator:
    """A validator for the schema at `pointer` (like `#/components/schemas/Hit`)."""
    return Draft7Validator(inline(resolve(pointer)))


@functools.cache
def message_validators(action: str) -> dict[str, Draft7Validator]:
    """Message type -> validator of its payload, for the messages of every operation with this action."""
    out: dict[str, Draft7Validator] = {}
    for op in spec()["operations"].values():
        if op["action"] != action:
            continue
        for ref in op["messages"]:
            message = deref(ref)
            payload_ref = message["payload"]["$ref"]
            msg_type = deref(message["payload"])["properties"]["type"]["const"]
            out[msg_type] = schema_validator(payload_ref)
    return out


def errors_of(msg: Any, action: str = SERVER_SENDS) -> list[str]:  # noqa: ANN401
    """What is wrong with one message, by the spec's schema for its type; empty when it conforms."""
    if not isinstance(msg, dict):
        return [f"not a JSON object: {type(msg).__name__}"]
    validator = message_validators(action).get(msg.get("type"))  # type: ignore[arg-type]
    if validator is None:
        return [f"no message of type {msg.get('type')!r} in the spec ({action} operations)"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(message)'}: {e.message}"
            for e in validator.iter_errors(msg)]


def record_server_message(msg: Any) -> None:  # noqa: ANN401
    """Check a message the server sent; a non-conforming one is kept for the test run to fail on."""
    counts[msg.get("type") if isinstance(msg, dict) else "?"] += 1
    errors = errors_of(msg)
    if errors:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        violations.append(Violation(test, msg, tuple(errors)))


def take_violations(test: str) -> list[Violation]:
    """The violations recorded while this test ran, removed from the list."""
    mine = [v for v in violations if v.test == test]
    violations[:] = [v for v in violations if v.test != test]
    reported.extend(mine)
    return mine
