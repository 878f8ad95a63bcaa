"""Fixtures for real services: Redis, SQLite and PostgreSQL, and a real server on a free port per test."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from server.embedded_redis import EmbeddedRedis

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_HOST, REDIS_PORT, REDIS_TEST_DB = "127.0.0.1", 6379, 15
PG_DSN = os.environ.get("ALPR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def missing_service(what: str) -> None:
    """Skip on a developer's machine; under CI a missing service is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{what} is not reachable, and CI must test against it")
    pytest.skip(f"{what} is not reachable on this machine")


# Databases a session may claim on the machine's Redis: not 0 (where the claims live), not 13 (bench/).
REDIS_CLAIMABLE_DBS = [REDIS_TEST_DB, *(n for n in range(14, 0, -1) if n != 13)]


def _claim_owner_alive(owner: bytes | None) -> bool:
    host, _, pid = (owner or b"").decode().rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return owner is not None  # another machine's claim: honour it until it expires
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _claimed_redis_db() -> Iterator[int]:
    """A Redis database number no other live test session on this Redis uses, released at the end."""
    client = redis_sync.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    me = f"{socket.gethostname()}:{os.getpid()}"
    try:
        for db in REDIS_CLAIMABLE_DBS:
            key = f"alpr:tests:redis-db:{db}"
            if client.set(key, me, nx=True, ex=6 * 3600):
                break
            owner = client.get(key)
            if not _claim_owner_alive(owner):
                # A crashed session's claim: take it over, unless someone else just did.
                with client.pipeline() as pipe:
                    try:
                        pipe.watch(key)
                        if pipe.get(key) == owner:
                            pipe.multi()
                            pipe.set(key, me, ex=6 * 3600)
                            pipe.execute()
                            break
                    except redis_sync.WatchError:
                        pass
        else:
            pytest.fail(f"every Redis test database ({REDIS_CLAIMABLE_DBS}) is claimed by a live test session")
        yield db
    finally:
        if client.get(key) == me.encode():
            client.delete(key)
        client.close()


@pytest.fixture(scope="session")
def redis_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis when it runs, else (outside CI) an embedded one."""
    if _port_open(REDIS_HOST, REDIS_PORT):
        # Every test FLUSHDBs its database and the server's keys are fixed names, so two pytest sessions on one
        # machine (developers, agents, CI shards) must never share one: each claims a database of its own.
        with _claimed_redis_db() as db:
            yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
        return
    if IN_CI:
        pytest.fail("Redis is not running on 127.0.0.1:6379; .ci/run should have started it")
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as embedded:
        yield embedded.url


@pytest.fixture
def redis_url(redis_base_url: str) -> str:
    """A Redis database emptied for this test."""
    client = redis_sync.Redis.from_url(redis_base_url)
    client.flushdb()
    client.close()
    return redis_base_url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped after it."""
    import asyncio

    import asyncpg

    if not _port_open("127.0.0.1", 5432):
        missing_service("PostgreSQL on 127.0.0.1:5432")
    name = "alpr_t_" + uuid.uuid4().hex[:12]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each integration test runs on the embedded default (SQLite) and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'alpr.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def server(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator:
    """A real server (uvicorn, real sockets) on a free port, on this test's database and Redis."""
    from support import running_server

    async with running_server(tmp_path, database_url, redis_url) as srv:
        yield srv


@pytest.fixture
async def world(server) -> AsyncIterator:  # noqa: ANN001
    """A server with an admin, a unit with a camera and an officer, an RTCC analyst and a dispatcher."""
    from support import World

    async with World.create(server) as w:
        yield w


# Every /ws/alerts message an AlertSocket receives is checked against clients/mobile_api_spec/asyncapi.yaml
# (tests/asyncapi_check.py): a test that received a message the spec does not describe fails, and so does the
# session if one arrived outside a test's body (in a fixture).
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    asyncapi_check = sys.modules.get("asyncapi_check")  # imported by support.py: none without AlertSockets
    if call.when != "call" or asyncapi_check is None:
        return
    bad = asyncapi_check.take_violations(item.nodeid)
    report = outcome.get_result()
    if bad and report.passed:
        report.outcome = "failed"
        report.longrepr = (f"{len(bad)} message(s) from /ws/alerts do not match "
                           f"{asyncapi_check.SPEC_PATH.relative_to(Path(__file__).resolve().parents[1])}:\n"
                           + "\n".join(v.describe() for v in bad))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    asyncapi_check = sys.modules.get("asyncapi_check")
    if asyncapi_check and asyncapi_check.violations and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    asyncapi_check = sys.modules.get("asyncapi_check")
    if asyncapi_check is None:
        return
    checked = sum(asyncapi_check.counts.values())
    if checked:
        by_type = ", ".join(f"{t} {n}" for t, n in sorted(asyncapi_check.counts.items()))
        terminalreporter.write_line(f"AsyncAPI check: {checked} /ws/alerts message(s) validated ({by_type}); "
                                    f"{len(asyncapi_check.violations) + len(asyncapi_check.reported)} invalid")
    if asyncapi_check.violations:
        terminalreporter.section("/ws/alerts messages received in fixtures that do not match the AsyncAPI spec",
                                 red=True)
        for v in asyncapi_check.violations:
            terminalreporter.write_line(v.describe())
