"""Detection ingest: validate, store once, match in one Redis round trip, raise hits, push alerts."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from server.auth.principals import CameraPrincipal
from server.db import utcnow
from server.detections.models import Detection, DetectionImage
from server.detections.schemas import (
    BatchIngestResult, DetectionCreate, IngestResult, batch_decoder, body_decoder, single_decoder,
)
from server.detections.validation import CleanDetection, DetectionInvalid, clean_detection
from server.errors import ApiError, bad_request
from server.hits.service import HitService
from server.resources import Resources

log = logging.getLogger(__name__)


def decode_body(raw: bytes) -> tuple[list[DetectionCreate], bool]:
    """One detection, or {"detections": [...]}; a decode error names the field."""
    try:
        top = body_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise bad_request("the body must be a JSON object: one detection or {\"detections\": [...]}") from exc
    except msgspec.DecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
    try:
        if "detections" in top:
            return batch_decoder.decode(top["detections"]), True
        return [single_decoder.decode(raw)], False
    except msgspec.ValidationError as exc:
        msg = str(exc)
        if "detections" in top:
            msg = msg.replace("at `$", "at `$.detections")
        raise bad_request(msg) from exc


def _row(c: CleanDetection, camera: CameraPrincipal, received: Any) -> dict[str, Any]:
    d, v = c.source, c.source.vehicle
    return {
        "id": c.id, "camera_id": camera.camera_id, "unit_id": camera.unit_id, "plate": c.plate, "state": c.state,
        "confidence": d.confidence, "captured_at": d.captured_at, "received_at": received,
        "lat": d.location.lat, "lon": d.location.lon, "heading": d.location.heading,
        "vehicle_make": v.make if v else None, "vehicle_model": v.model if v else None,
        "vehicle_color": v.color if v else None, "vehicle_type": v.type if v else None,
        "vehicle_features": (v.features or None) if v else None, "image_kinds": ",".join(c.images),
    }


class DetectionService:
    def __init__(self, res: Resources, session) -> None:  # noqa: ANN001
        self.res = res
        self.session = session
        self.hits = HitService(session, timedelta(seconds=res.settings.fold_window_seconds))

    def _clean(self, items: Sequence[DetectionCreate], batch: bool) -> list[CleanDetection]:
        s = self.res.settings
        now = utcnow()
        limits = {"now": now, "max_age": timedelta(days=s.retention_days + 1),
                  "max_skew": timedelta(seconds=s.max_future_skew_seconds), "max_image_bytes": s.max_image_bytes}
        out, errors = [], []
        for i, item in enumerate(items):
            try:
                out.append(clean_detection(item, **limits))
            except DetectionInvalid as exc:
                field = f"detections[{i}].{exc.field}" if batch else exc.field
                errors.append({"index": i, "field": field, "detail": exc.detail})
        if errors:
            # Nothing of a bad batch is stored: the camera fixes or drops the named reads and resends.
            first = errors[0]
            raise bad_request(f"{first['field']}: {first['detail']}" + (
                f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""), errors=errors)
        return out

    async def ingest(self, camera: CameraPrincipal, items: Sequence[DetectionCreate], batch: bool,
                     ) -> tuple[int, IngestResult | BatchIngestResult]:
        started = time.perf_counter()
        cleaned = self._clean(items, batch)
        for attempt in (1, 2):
            try:
                results, created = await self._store_and_match(camera, cleaned)
                break
            except IntegrityError:
                # A concurrent resend of the same id won the insert; the retry answers it as a duplicate.
                await self.session.rollback()
                if attempt == 2:
                    raise
        self.res.metrics.ingest_latency.observe(time.perf_counter() - started)
        if not batch:
            return (201 if created else 200), results[0]
        return 201, BatchIngestResult(results=results, created=created, duplicates=len(results) - created)

    async def _store_and_match(self, camera: CameraPrincipal, cleaned: list[CleanDetection],
                               ) -> tuple[list[IngestResult], int]:
        ids = [c.id for c in cleaned]
        known = set(await self.session.scalars(select(Detection.id).where(Detection.id.in_(ids)))) if ids else set()
        fresh: list[CleanDetection] = []
        seen = set(known)
        for c in cleaned:
            if c.id not in seen:
                seen.add(c.id)
                fresh.append(c)
        events, new_hits = [], {}
        if fresh:
            received = utcnow()
            rows = [_row(c, camera, received) for c in fresh]
            t0 = time.perf_counter()
            matches = await self.res.index.match_many([(c.plate, c.state) for c in fresh], self.res.sessions)
            self.res.metrics.match_latency.observe(time.perf_counter() - t0)
            await self.session.execute(insert(Detection), rows)
            images = [{"detection_id": c.id, "kind": k, "content_type": ct, "data": data}
                      for c in fresh for k, (ct, data) in c.images.items()]
            if images:
                await self.session.execute(insert(DetectionImage), images)
            matched = [(row, cands) for row, cands in zip(rows, matches, strict=True) if cands]
            if matched:
                events, new_hits = await self.hits.raise_hits(matched)
            await self.session.commit()
            self.res.metrics.detections.inc(len(fresh))
            for ev in events:
                self.res.metrics.hits.labels(ev.type).inc()
            # Stored first, then alerted: no one is sent after a car the database does not know about.
            await self.res.publisher.publish(events)
        fresh_ids = {c.id for c in fresh}
        repeats = [i for i in dict.fromkeys(ids) if i not in fresh_ids]
        old_hits = await self.hits.hits_for_detections(repeats) if repeats else {}
        if repeats:
            self.res.metrics.duplicates.inc(len(repeats))
        results, done = [], set()
        for i in ids:
            if i in done:
                continue
            done.add(i)
            is_new = i in fresh_ids
            hits = new_hits.get(i, []) if is_new else old_hits.get(i, [])
            results.append(IngestResult(id=i, hits=[msgspec.to_builtins(h) for h in hits], duplicate=not is_new))
        return results, len(fresh)
