"""What a deployer relies on in compose.yaml and the Dockerfile (parsed, never run)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
SECRETS = ("POSTGRES_PASSWORD", "ALPR_SECRET_KEY", "ALPR_KEK")
INTERNAL_PORTS = {5432, 6379}
KEK = "a2V5LWVuY3J5cHRpb24ta2V5LWZvci10ZXN0cy0zMmI="  # 32 bytes, base64
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    """Raised where `docker compose` would refuse to start."""


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Substitute variables the way compose does, for the forms this file uses."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if not unset:
            return value or ""
        if op is not None and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        return arg if op is not None and op.endswith("-") else ""

    return _VARIABLE.sub(substitute, text)


def _interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    """Interpolate every string of parsed YAML; compose substitutes after parsing."""
    if isinstance(node, str):
        return _interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def _load(env: dict[str, str]) -> dict[str, Any]:
    """compose.yaml after interpolation with the given environment."""
    loaded = _interpolate_tree(yaml.safe_load(COMPOSE_FILE.read_text()), env)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml with every required secret provided."""
    return _load({"POSTGRES_PASSWORD": "pg-secret", "ALPR_SECRET_KEY": "k" * 48, "ALPR_KEK": KEK})


@pytest.fixture(scope="module")
def alpr_env(compose: dict[str, Any]) -> dict[str, str]:
    """The alpr service's environment as a mapping."""
    env = compose["services"]["alpr"]["environment"]
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _published_host_ports(service: dict[str, Any]) -> set[int]:
    """Host-side ports a service publishes, in short or long syntax."""
    ports: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            published = str(entry.get("published", entry.get("target")))
        else:
            parts = str(entry).split("/")[0].split(":")
            published = parts[-2] if len(parts) > 1 else parts[-1]
        low, _, high = published.partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    return ports


def _named_volume_sources(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) for each volume mount of a service."""
    mounts = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            mounts.append((str(entry.get("source", "")), str(entry["target"])))
        else:
            source, target = str(entry).split(":")[:2]
            mounts.append((source, target))
    return mounts


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with comments dropped and continuations joined."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\s*\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_three_services_exist(compose: dict[str, Any]) -> None:
    """The stack is postgres, redis and alpr."""
    assert set(compose["services"]) == {"postgres", "redis", "alpr"}


def test_alpr_waits_for_healthy_postgres_and_redis(compose: dict[str, Any]) -> None:
    """alpr starts only once postgres and redis report healthy."""
    depends = compose["services"]["alpr"]["depends_on"]
    assert isinstance(depends, dict)
    for dependency in ("postgres", "redis"):
        assert depends[dependency]["condition"] == "service_healthy"


def test_database_url_uses_asyncpg_and_postgres_service(
    alpr_env: dict[str, str], compose: dict[str, Any]
) -> None:
    """DATABASE_URL reaches the postgres service through asyncpg with its credentials."""
    url = urlsplit(alpr_env["DATABASE_URL"])
    assert url.scheme == "postgresql+asyncpg"
    assert (url.hostname, url.port) == ("postgres", 5432)
    postgres_env = compose["services"]["postgres"]["environment"]
    assert url.username == postgres_env["POSTGRES_USER"] == "alpr"
    assert url.password == postgres_env["POSTGRES_PASSWORD"] == "pg-secret"
    assert url.path == "/" + postgres_env["POSTGRES_DB"]


def test_redis_url_points_at_redis_service(alpr_env: dict[str, str]) -> None:
    """REDIS_URL targets the redis service, so the embedded Redis is not used."""
    url = urlsplit(alpr_env["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)


def test_alpr_runs_in_production_mode_with_persistent_data_dir(
    alpr_env: dict[str, str], compose: dict[str, Any]
) -> None:
    """alpr runs with ALPR_ENV=production, the compose secret key, and its data dir on a volume."""
    assert alpr_env["ALPR_ENV"] == "production"
    assert alpr_env["ALPR_SECRET_KEY"] == "k" * 48
    assert alpr_env["ALPR_BOOTSTRAP_ADMIN"] == ""
    targets = {t for _, t in _named_volume_sources(compose["services"]["alpr"])}
    assert alpr_env["ALPR_DATA_DIR"] in targets


def test_alpr_serves_on_all_interfaces_port_8000(compose: dict[str, Any]) -> None:
    """alpr listens on 0.0.0.0:8000 inside the container and publishes 8000."""
    alpr = compose["services"]["alpr"]
    command = alpr["command"]
    args = shlex.split(command) if isinstance(command, str) else list(command)
    assert args[:2] == ["alpr", "serve"]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--port") + 1] == "8000"
    assert _published_host_ports(alpr) == {8000}
    assert alpr["build"] in (".", {"context": "."})


@pytest.mark.parametrize("secret", SECRETS)
def test_missing_secret_stops_compose(secret: str) -> None:
    """Leaving a secret unset (or empty) is an error, not a silent default."""
    env = {"POSTGRES_PASSWORD": "pg-secret", "ALPR_SECRET_KEY": "k" * 48, "ALPR_KEK": KEK}
    del env[secret]
    with pytest.raises(MissingVariable, match=secret):
        _load(env)
    with pytest.raises(MissingVariable, match=secret):
        _load({**env, secret: ""})


@pytest.mark.parametrize("secret", SECRETS)
def test_every_secret_reference_is_required(secret: str) -> None:
    """Each reference to a secret uses the ${VAR:?message} form."""
    references = [m for m in _VARIABLE.finditer(COMPOSE_FILE.read_text()) if m["name"] == secret]
    assert references
    assert all(m["op"] == ":?" for m in references)


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    """Each service declares an enabled healthcheck."""
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and not check.get("disable"), name
        assert check["test"] and check["test"] != ["NONE"], name


def test_healthchecks_probe_the_right_thing(compose: dict[str, Any]) -> None:
    """postgres uses pg_isready, redis redis-cli ping, alpr GETs /readyz."""
    services = compose["services"]
    flat = {name: " ".join(s["healthcheck"]["test"]) for name, s in services.items()}
    assert "pg_isready" in flat["postgres"]
    assert "redis-cli ping" in flat["redis"]
    assert "http://localhost:8000/readyz" in flat["alpr"] and "urllib" in flat["alpr"]


def test_data_live_on_declared_named_volumes(compose: dict[str, Any]) -> None:
    """State lives on named volumes declared at top level, not bind mounts or anonymous volumes."""
    declared = set(compose.get("volumes") or {})
    expected_targets = {
        "postgres": "/var/lib/postgresql/data",
        "redis": "/data",
        "alpr": "/var/lib/alpr",
    }
    for name, target in expected_targets.items():
        mounts = dict((t, s) for s, t in _named_volume_sources(compose["services"][name]))
        assert target in mounts, name
        assert mounts[target] in declared, name
    for service in compose["services"].values():
        for source, _ in _named_volume_sources(service):
            assert source in declared


def test_redis_persists_with_aof(compose: dict[str, Any]) -> None:
    """The redis service runs with appendonly enabled."""
    command = compose["services"]["redis"]["command"]
    args = shlex.split(command) if isinstance(command, str) else list(command)
    assert args[args.index("--appendonly") + 1] == "yes"


def test_database_and_redis_ports_are_not_published(compose: dict[str, Any]) -> None:
    """Neither 5432 nor 6379 is reachable from the host."""
    for name, service in compose["services"].items():
        assert not _published_host_ports(service) & INTERNAL_PORTS, name
    assert "ports" not in compose["services"]["postgres"]
    assert "ports" not in compose["services"]["redis"]


def test_dockerfile_installs_project_without_ocr_extra() -> None:
    """The image pip-installs `.` and never the [ocr] extra or torch."""
    instructions = _dockerfile_instructions()
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    installs = [shlex.split(run) for run in runs if "pip install" in run]
    assert any("." in args for args in installs)
    text = " ".join(args for _, args in instructions).lower()
    assert "[ocr]" not in text and "torch" not in text
    for args in installs:
        assert not any(arg.startswith(".[") for arg in args)


def test_dockerfile_runs_as_non_root_on_port_8000() -> None:
    """The image is python:3.11-slim, runs as a non-root user, exposes 8000 and serves."""
    instructions = _dockerfile_instructions()
    keywords = dict(instructions)
    assert keywords["FROM"] == "python:3.11-slim"
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    assert "8000" in keywords["EXPOSE"].split()
    cmd = [args for keyword, args in instructions if keyword == "CMD"][-1]
    assert "alpr" in cmd and "serve" in cmd and "0.0.0.0" in cmd
