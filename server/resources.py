"""The server's long-lived resources, opened on start and closed on stop, and the dependencies that hand them out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.alerts.delivery import DeliveryLog
from server.alerts.service import AlertHub
from server.audit.service import AuditLog
from server.auth.cameras import CameraRegistry
from server.auth.passwords import SecretHasher
from server.auth.tokens import TokenService
from server.common.crypto import Keyring
from server.db import create_engine, session_factory, upgrade_database_async
from server.detections.writer import IngestWriter
from server.embedded_redis import EmbeddedRedis
from server.hotlist.index import HotlistIndex
from server.metrics import Metrics
from server.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    tokens: TokenService
    hasher: SecretHasher
    index: HotlistIndex
    delivery: DeliveryLog
    hub: AlertHub
    metrics: Metrics
    cameras: CameraRegistry
    keyring: Keyring
    ingest_writer: IngestWriter = field(init=False)
    audit: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.ingest_writer = IngestWriter(self)
        self.audit = AuditLog(self)


@asynccontextmanager
async def open_resources(settings: Settings, serving: bool = True) -> AsyncIterator[Resources]:
    """Database migrated, Redis reachable (embedded when no REDIS_URL), index built, hub reading.

    ``serving=False`` is for the operator's tools (``alpr hotlist import``): the index is rebuilt only if Redis lost
    it, and no hub, ingest writer or background chore runs."""
    embedded = None
    redis_url = settings.redis_url
    if not redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        redis_url = embedded.start()
    engine = None
    redis = hub_redis = None
    hub = None
    index = None
    try:
        db_url = settings.effective_database_url
        await upgrade_database_async(db_url)
        engine = create_engine(db_url)
        sessions = session_factory(engine)
        # A blocking pool: under overload a request waits for a connection instead of failing with
        # "Too many connections".
        redis = Redis(connection_pool=BlockingConnectionPool.from_url(redis_url, max_connections=64, timeout=10),
                      health_check_interval=30)
        # The hub blocks on XREAD; it gets a connection of its own so requests never queue behind it.
        hub_redis = Redis.from_url(redis_url, health_check_interval=30)
        metrics = Metrics()
        index = HotlistIndex(redis)
        async with sessions() as session:
            await (index.rebuild(session) if serving else index.rebuild_if_missing(session))
        cameras = CameraRegistry(redis, sessions)
        hub = AlertHub(hub_redis, metrics, settings.socket_queue_size, on_camera_changed=cameras.forget)
        if serving:
            await hub.start()
        tokens = TokenService(settings.signing_key(), settings.token_issuer, settings.token_audience)
        res = Resources(settings=settings, engine=engine, sessions=sessions, redis=redis, tokens=tokens,
                        hasher=SecretHasher(settings.password_hash_profile), index=index,
                        delivery=DeliveryLog(redis, settings.delivery_log_length, settings.ack_resend_seconds), hub=hub, metrics=metrics, cameras=cameras,
                        keyring=Keyring(*settings.key_encryption_keys()))
        from server.auth.service import bootstrap_admin

        if not serving:
            try:
                yield res
            finally:
                await res.audit.close()
            return
        await bootstrap_admin(res)
        res.ingest_writer.start()
        from server.alerts.redelivery import resend_due
        from server.hits.withdrawal import withdraw_expired
        from server.hotlist.watch import watch_folder

        chores = [every(min(1.0, settings.ack_resend_seconds / 4), resend_due, res),
                  every(settings.expiry_sweep_seconds, withdraw_expired, res)]
        if settings.hotlist_watch_dir is not None:
            chores.append(every(settings.hotlist_watch_seconds, watch_folder, res))
        from server.retention.service import scheduled_purge

        chores.append(every(settings.retention_interval_seconds, scheduled_purge, res))
        unwatch_gc = metrics.watch_gc()
        try:
            yield res
        finally:
            unwatch_gc()
            for task in chores:
                task.cancel()
            await asyncio.gather(*chores, return_exceptions=True)
            await res.ingest_writer.stop()
            await res.audit.close()
    finally:
        if hub:
            await hub.stop()
        if index is not None:
            await index.stop()
        for client in (redis, hub_redis):
            if client is not None:
                await client.aclose()
        if engine is not None:
            await engine.dispose()
        if embedded:
            embedded.stop()


def every(seconds: float, chore: Callable[[Resources], Awaitable[object]], res: Resources) -> asyncio.Task:
    """Run a chore every `seconds` until cancelled; a failure is logged and retried next time, never fatal."""
    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await chore(res)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; retrying in %.1f s", chore.__name__, seconds)
            # Python 3.11's asyncio.wait_for, which redis-py uses to send every command, drops a cancel that
            # lands just as the send completes: without this the chore runs on and shutdown waits for ever.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError

    return asyncio.create_task(loop(), name=chore.__name__)


def lifespan(settings: Settings):  # noqa: ANN201 - Litestar lifespan factory
    @asynccontextmanager
    async def _lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_resources(settings) as res:
            app.state.resources = res
            yield

    return _lifespan


# Litestar dependencies: handlers name what they need; nothing is a module-level client.
def provide_resources(state: State) -> Resources:
    return state.resources


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.resources.sessions() as session:
        yield session


# Annotations for handler parameters, so each dependency is named explicitly (Litestar 3 requires it).
ServerResources = NamedDependency[Resources]
DbSession = NamedDependency[AsyncSession]
