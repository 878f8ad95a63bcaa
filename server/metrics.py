"""Prometheus metrics of one server process, in a registry of its own (tests build many apps)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_FAST = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.detections = Counter("alpr_detections_ingested", "Detections stored (resends excluded)", registry=r)
        self.duplicates = Counter("alpr_detections_duplicate", "Resent detections answered from storage", registry=r)
        self.hits = Counter("alpr_hits", "Hits raised, by match kind", ["match_kind"], registry=r)
        self.match_latency = Histogram("alpr_match_seconds", "Hot-list match time per request", buckets=_FAST,
                                       registry=r)
        self.ingest_latency = Histogram("alpr_ingest_seconds", "Detection request time, validation to publish",
                                        buckets=_FAST, registry=r)
        self.fanout_latency = Histogram("alpr_push_seconds", "Publish to hand-over to a socket's queue",
                                        buckets=_FAST, registry=r)
        self.sockets = Gauge("alpr_websockets_connected", "Connected alert websockets", registry=r)
        self.dropped_sockets = Counter("alpr_websockets_dropped", "Slow sockets dropped", registry=r)
        self.resends = Counter("alpr_alerts_resent", "Alerts re-sent because the unit did not acknowledge them",
                               registry=r)
        self.escalations = Counter("alpr_alerts_escalated", "Unacknowledged alerts escalated to the RTCC",
                                   registry=r)
        self.replayed = Counter("alpr_alerts_replayed", "Missed alerts replayed after a reconnect", registry=r)
        # A collection stops every request of the process: its pauses are part of alert latency's tail.
        self.gc_pauses = Histogram("alpr_gc_pause_seconds", "Garbage-collector pauses of this process, by generation",
                                   ["generation"], buckets=_FAST, registry=r)

    def watch_gc(self) -> Callable[[], None]:
        """Time this process's garbage collections into ``gc_pauses``; returns the function that stops it."""
        started = [0.0]
        by_generation = [self.gc_pauses.labels(str(g)) for g in range(3)]

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                by_generation[info["generation"]].observe(time.perf_counter() - started[0])

        gc.callbacks.append(callback)
        return lambda: gc.callbacks.remove(callback)

    def render(self) -> bytes:
        return generate_latest(self.registry)
