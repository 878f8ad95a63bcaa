"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from litestar import Response, get
from sqlalchemy import text

from server.resources import ServerResources


@get("/healthz", opt={"exclude_from_auth": True}, tags=["operations"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", opt={"exclude_from_auth": True}, tags=["operations"],
     summary="Database and Redis reachable, hot-list index present")
async def readyz(resources: ServerResources) -> Response:
    checks: dict[str, str] = {}

    async def db() -> None:
        async with resources.sessions() as session:
            await session.execute(text("SELECT 1"))

    async def redis() -> None:
        await resources.redis.ping()
        if not await resources.index.is_built():
            # Redis came back empty. Rebuild here too, not only on the next read: a balancer that takes every
            # "not ready" instance out of rotation would otherwise never send the read that repairs it.
            repair = resources.index.repair_in_background(resources.sessions)
            try:
                await asyncio.wait_for(asyncio.shield(repair), 1.5)
            except TimeoutError:
                raise RuntimeError("hot-list index missing; rebuilding it from the database") from None

    for name, check in (("database", db), ("redis", redis)):
        try:
            await asyncio.wait_for(check(), 2.0)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready, and says which
            checks[name] = f"failed: {exc!r}"[:200]
    ok = all(v == "ok" for v in checks.values())
    return Response({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


@get("/metrics", opt={"exclude_from_auth": True}, tags=["operations"], summary="Prometheus metrics",
     media_type="text/plain; version=0.0.4")
async def metrics(resources: ServerResources) -> bytes:
    return resources.metrics.render()
