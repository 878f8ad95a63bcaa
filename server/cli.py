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


class _LazyOcrGroup(click.Group):
    """`alpr ocr ...`, imported only when used: the OCR worker needs the [ocr] extra (torch, EasyOCR), the server not."""

    def _group(self) -> click.Group:
        from ocr_worker.cli import ocr

        return ocr

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._group().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._group().get_command(ctx, name)


main.add_command(_LazyOcrGroup("ocr", help="Read plates from images and video; the Redis stream OCR worker "
                                           "(needs the [ocr] extra: pip install 'alpr[ocr]')."))


@main.group()
def hotlist() -> None:
    """Hot lists: import a source's file, and see how fresh each source's list is."""


@hotlist.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--source", required=True, type=click.Choice(["NCIC", "APSIN", "RMS", "AMBER", "SILVER", "MANUAL"],
                                                           case_sensitive=False),
              help="Where the list comes from; every source behind an entry is kept.")
@click.option("--format", "fmt", required=True, type=click.Choice(["ncic", "csv", "apsin"], case_sensitive=False),
              help="ncic: NCIC-style fixed width; csv: the CSV of api-v1.md; apsin: APSIN/RMS pipe-delimited export "
                   "(layouts and code mapping: server/hotlist/formats/README.md).")
@click.option("--replace", is_flag=True,
              help="The file is the source's whole list: entries of this source that it no longer lists are "
                   "removed and officers on open hits told. Without it the file only adds and updates.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table.")
def hotlist_import(file: str, source: str, fmt: str, replace: bool, as_json: bool) -> None:
    """Import FILE into the hot list, with a progress bar and a summary.

    Only categories policy 7.12 II allows are loaded: other list types are refused and counted by code. Junk plates
    ("0", "UNKNOWN", "NOTAG" ...) are skipped, plates normalised, duplicates merged. Bad lines are listed with their
    line numbers. Nothing is half-written: a failure leaves the list as it was.
    """
    import asyncio

    from server.hotlist.tool import run_import

    sys.exit(asyncio.run(run_import(_settings(), file, source.upper(), fmt.lower(), replace, as_json)))


@hotlist.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def hotlist_sources(as_json: bool) -> None:
    """Each source's entries and the time of its last good full refresh (a stale list causes bad stops)."""
    import asyncio

    from server.hotlist.tool import show_sources

    sys.exit(asyncio.run(show_sources(_settings(), as_json)))


@main.group()
def retention() -> None:
    """Retention: the purge of expired detections (it also runs on a schedule inside the server)."""


@retention.command("run")
def retention_run() -> None:
    """Purge detections older than ALPR_RETENTION_DAYS that no active case holds, now; print what was done."""
    import asyncio
    import json

    from server.resources import open_resources
    from server.retention.service import run_purge

    async def go() -> dict:
        import msgspec

        async with open_resources(_settings(), serving=False) as res:
            try:
                return msgspec.to_builtins(await run_purge(res))
            finally:
                await res.audit.close()

    click.echo(json.dumps(asyncio.run(go())))


@main.group()
def keys() -> None:
    """Evidence encryption keys: make a key-encryption key, and rotate to a new one."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key-encryption key for ALPR_KEK (keep it in the secret store, never beside the database)."""
    from server.common.crypto import generate_kek

    click.echo(generate_kek())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every image's data key under ALPR_KEK (old KEKs in ALPR_RETIRED_KEKS); images are not rewritten."""
    import asyncio

    from server.common.crypto import Keyring
    from server.db import create_engine, session_factory, upgrade_database
    from server.detections.evidence import rotate_keys

    settings = _settings()
    upgrade_database(settings.effective_database_url)

    async def go() -> int:
        engine = create_engine(settings.effective_database_url)
        try:
            async with session_factory(engine)() as session:
                return await rotate_keys(session, Keyring(*settings.key_encryption_keys()))
        finally:
            await engine.dispose()

    click.echo(f"{asyncio.run(go())} data key(s) re-wrapped under the current key-encryption key")
