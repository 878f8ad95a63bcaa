"""The `alpr` command: serve, demo and the operator's tools."""

from __future__ import annotations

import sys

import click

from server.settings import SettingsError, load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ALPR server: hot-list matching and live alerts for police dash cameras.

    Configuration comes from the environment: DATABASE_URL (PostgreSQL in production; a SQLite file in
    ALPR_DATA_DIR when unset), REDIS_URL (an embedded Redis in ALPR_DATA_DIR when unset), ALPR_SECRET_KEY,
    ALPR_RETENTION_DAYS and ALPR_BOOTSTRAP_ADMIN=name:password for the first account.
    """


def _settings(**overrides: object):  # noqa: ANN202
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from exc


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port; alerts reach sockets held by any of them through Redis. "
                   "With PostgreSQL one per CPU core; keep 1 on the embedded SQLite default, whose "
                   "single write lock the processes would queue on.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the server (migrates the database and starts the embedded Redis when needed)."""
    import os

    import uvicorn

    from server.db import upgrade_database
    from server.embedded_redis import EmbeddedRedis

    settings = _settings()
    # Shared set-up happens once, here, before any worker starts: the embedded Redis (one per data dir),
    # the migrations and the signing key.
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        os.environ["REDIS_URL"] = embedded.start()
    try:
        upgrade_database(settings.effective_database_url)
        settings.signing_key()
        # The database driver's thread waits for the GIL up to the switch interval while the event loop
        # is busy; 5 ms by default would show straight up in alert latency.
        sys.setswitchinterval(0.0005)
        options = {"host": host, "port": port, "loop": "uvloop", "http": "httptools", "log_config": None,
                   "access_log": False, "ws_max_size": 1 << 20, "timeout_graceful_shutdown": 5}
        if workers == 1:
            from server.app import create_app

            uvicorn.run(create_app(_settings()), **options)
        else:
            # Each worker builds its own app from the same environment (REDIS_URL now included).
            uvicorn.run("server.app:create_app", factory=True, workers=workers, **options)
    finally:
        if embedded:
            embedded.stop()


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where the demo keeps its SQLite file and Redis (default: a new temporary folder).")
@click.option("--delay", default=0.4, show_default=True, type=click.FloatRange(0, 10),
              help="Seconds between replayed reads, so alerts can be watched arriving.")
def demo(data_dir: str | None, delay: float) -> None:
    """Start everything on the embedded defaults, load a sample hot list, replay dash-camera reads and show alerts."""
    import asyncio

    from server.demo import run_demo

    sys.exit(asyncio.run(run_demo(data_dir, delay)))


@main.command()
@click.option("--server", "server_url", required=True, help="The server's base URL, e.g. https://alpr.example.org.")
@click.option("--user", "username", required=True, help="Your username.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def mdt(server_url: str, username: str, password_stdin: bool) -> None:
    """A terminal MDT: live alerts by priority, mismatches highlighted, and the verification steps."""
    import asyncio

    from clients.mdt.ui import run_mdt

    # Never a password option: it would show in the process list and the shell's history.
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else click.prompt("Password", hide_input=True)
    try:
        sys.exit(asyncio.run(run_mdt(server_url, username, password)))
    except KeyboardInterrupt:
        sys.exit(130)
