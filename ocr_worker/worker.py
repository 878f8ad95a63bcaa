"""The stream worker: frames from a Redis stream (consumer group) to detections posted to the server."""

from __future__ import annotations

import base64
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import httpx
import numpy as np
import redis

from ocr_worker.color import dominant_color, vehicle_box
from ocr_worker.reader import PlateRead

log = logging.getLogger("ocr_worker")

STREAM = "alpr:frames"
GROUP = "ocr"
# Detection ids derive from the frame's stream entry: a frame processed twice (its worker died after posting,
# before acknowledging) posts the same ids again, and the server answers the resend without storing anything.
ID_NAMESPACE = uuid.UUID("6f7c3c4e-2a55-4c1e-9a57-0cf1f3c0a6d2")


def detection_id(stream: str, entry_id: str, index: int) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{stream}/{entry_id}/{index}"))


def frame_message(image_jpeg: bytes, captured_at: datetime, lat: float, lon: float,
                  heading: float | None = None) -> dict[str, bytes | str]:
    """A frame as a camera puts it on the stream (XADD fields)."""
    fields: dict[str, bytes | str] = {"image": image_jpeg, "captured_at": captured_at.isoformat(),
                                      "lat": repr(lat), "lon": repr(lon)}
    if heading is not None:
        fields["heading"] = repr(heading)
    return fields


def _jpeg(image: np.ndarray, quality: int = 90) -> str:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return base64.b64encode(buf.tobytes()).decode() if ok else ""


def detections_for(frame: np.ndarray, reads: list[PlateRead], fields: dict[bytes, bytes], stream: str,
                   entry_id: str) -> list[dict]:
    """The api-v1 detection bodies for one frame's plate reads."""
    location = {"lat": float(fields[b"lat"]), "lon": float(fields[b"lon"])}
    if b"heading" in fields:
        location["heading"] = float(fields[b"heading"])
    out = []
    for i, r in enumerate(reads):
        vx, vy, vw, vh = vehicle_box(r.box, frame.shape)
        body = {"id": detection_id(stream, entry_id, i), "plate": r.plate, "state": r.state,
                "confidence": round(float(r.confidence), 4), "captured_at": fields[b"captured_at"].decode(),
                "location": location,
                "images": {"plate": _jpeg(r.crop) if r.crop is not None and r.crop.size else None,
                           "vehicle": _jpeg(frame[vy:vy + vh, vx:vx + vw]) if vw and vh else None}}
        color = dominant_color(frame, r.box)
        if color:
            body["vehicle"] = {"color": color}
        out.append(body)
    return out


@dataclass
class Poster:
    """Posts detections with a device token; retries transient failures; refreshes an expired token."""

    server: str
    camera_id: str
    secret: str
    timeout: float = 10.0
    max_wait: float = 30.0
    _token: str | None = None
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))

    def _authenticate(self) -> None:
        resp = self.client.post(f"{self.server}/api/v1/auth/device-token",
                                json={"camera_id": self.camera_id, "secret": self.secret})
        resp.raise_for_status()
        self._token = resp.json()["access_token"]

    def post(self, detections: list[dict]) -> dict:
        """POST one batch until the server has it (201, or 200 for a resend). Raises on a refused batch."""
        delay = 0.2
        while True:
            try:
                if self._token is None:
                    self._authenticate()
                resp = self.client.post(f"{self.server}/api/v1/detections", json={"detections": detections},
                                        headers={"Authorization": f"Bearer {self._token}"})
                if resp.status_code == 401:
                    self._token = None  # expired: a fresh one next round
                    continue
                if resp.status_code < 500:
                    resp.raise_for_status()  # 4xx other than 401: the batch itself is wrong; retrying won't help
                    return resp.json()
                log.warning("server answered %s; retrying in %.1fs", resp.status_code, delay)
            except httpx.TransportError as exc:
                log.warning("server unreachable (%s); retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay = min(self.max_wait, delay * 2)

    def close(self) -> None:
        self.client.close()


@dataclass
class Stats:
    frames: int = 0
    claimed: int = 0
    detections: int = 0
    refused: int = 0


class StreamWorker:
    """One consumer of the frame stream. Several share the load; a dead one's frames are claimed by the others."""

    def __init__(self, r: redis.Redis, process: Callable[[np.ndarray], list[PlateRead]],
                 post: Callable[[list[dict]], dict], *, stream: str = STREAM, group: str = GROUP,
                 consumer: str | None = None, batch: int = 4, claim_idle_ms: int = 30_000) -> None:
        self.r, self.process, self.post = r, process, post
        self.stream, self.group, self.batch, self.claim_idle_ms = stream, group, batch, claim_idle_ms
        self.consumer = consumer or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.stats = Stats()
        self._stop = False

    def ensure_group(self) -> None:
        try:
            # From the start of the stream: frames queued before any worker ran are work too.
            self.r.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def stop(self) -> None:
        self._stop = True

    def handle(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        """Read one frame, post its detections, then acknowledge it (never before: a crash must leave it pending)."""
        image = cv2.imdecode(np.frombuffer(fields.get(b"image", b""), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            log.error("entry %s holds no decodable image; acknowledged and skipped", entry_id)
            self.r.xack(self.stream, self.group, entry_id)
            return
        reads = self.process(image)
        bodies = detections_for(image, reads, fields, self.stream, entry_id)
        if bodies:
            try:
                self.post(bodies)
                self.stats.detections += len(bodies)
            except httpx.HTTPStatusError as exc:
                self.stats.refused += 1
                log.error("server refused entry %s: %s %s", entry_id, exc.response.status_code, exc.response.text)
        self.r.xack(self.stream, self.group, entry_id)
        self.stats.frames += 1

    def step(self, block_ms: int = 1000) -> int:
        """One round: first frames other consumers left pending too long, then new ones. Returns frames handled."""
        # Redis 7 answers [cursor, entries, deleted ids], 6.2 [cursor, entries].
        claimed = self.r.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                    start_id="0-0", count=self.batch)[1]
        entries = [(eid, f) for eid, f in claimed if f]  # a claimed entry trimmed from the stream has no fields
        self.stats.claimed += len(entries)
        if not entries:
            got = self.r.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=self.batch,
                                    block=block_ms)
            entries = [e for _, es in got for e in es] if got else []
        for eid, f in entries:
            self.handle(eid.decode() if isinstance(eid, bytes) else eid, f)
        return len(entries)

    def run(self, max_frames: int | None = None, idle_exit_s: float | None = None) -> Stats:
        """Consume until stopped (or max_frames handled, or idle for idle_exit_s seconds)."""
        self.ensure_group()
        idle_since = time.monotonic()
        while not self._stop:
            if self.step():
                idle_since = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                break
            if max_frames is not None and self.stats.frames >= max_frames:
                break
        return self.stats
