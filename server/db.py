"""Database engine, sessions and migrations: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Dialect, Engine, TypeDecorator, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every stored time is UTC, so say so."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class UtcDateTime(TypeDecorator):
    """A point in time, stored in UTC on every database.

    SQLite keeps a datetime's wall time and drops its offset, so an Alaska camera's 08:00-09:00 would read
    back as 08:00 UTC, nine hours off. Converting on the way in and marking UTC on the way out makes both
    databases agree.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a datetime without a UTC offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


def _tune_sqlite(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI connection
    # WAL lets readers run beside the single writer; NORMAL sync is durable across process crashes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def create_engine(url: str, **kwargs: object) -> AsyncEngine:
    """An async engine for the URL, with SQLite tuned for a concurrent server."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Sessions always end their own transaction, so the pool's extra rollback on return is a wasted
        # thread hop per request.
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_reset_on_return=None, **kwargs)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def create_sqlite_writer_engine(url: str) -> Engine:
    """A synchronous engine for the one thread that writes detections to SQLite.

    A whole group transaction then costs one hand-off to that thread instead of several per statement through
    the async driver. BEGIN IMMEDIATE takes the write lock up front, so a second server process waits on it
    there (in this thread, never on the event loop) rather than failing half-way.
    """
    engine = create_sync_engine(url.replace("sqlite+aiosqlite://", "sqlite+pysqlite://", 1),
                                connect_args={"timeout": 30, "check_same_thread": False}, pool_size=1, max_overflow=0)
    event.listen(engine, "connect", _tune_sqlite)

    @event.listens_for(engine, "connect")
    def _manual_transactions(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None  # the driver must not BEGIN by itself; the listener below does

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn) -> None:  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session per request, rolled back if the handler did not commit."""
    async with factory() as session:
        yield session


def _alembic_config(url: str):  # noqa: ANN202 - alembic type
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_database(url: str) -> None:
    """Apply every Alembic migration up to head (blocking; run it in a thread from async code)."""
    from alembic import command

    command.upgrade(_alembic_config(url), "head")


async def upgrade_database_async(url: str) -> None:
    """Apply migrations without blocking the event loop (env.py runs its own loop)."""
    await asyncio.to_thread(upgrade_database, url)
