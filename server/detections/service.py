"""Detection ingest: decode and validate here; storing, matching and alerting happen in the group writer."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from datetime import timedelta

import msgspec

from server.auth.principals import CameraPrincipal
from server.common.text import readable
from server.db import utcnow
from server.detections.schemas import (
    BatchIngestResult,
    DetectionCreate,
    IngestResult,
    batch_decoder,
    body_decoder,
    single_decoder,
)
from server.detections.validation import CleanDetection, DetectionInvalid, clean_detection
from server.errors import ApiError, bad_request
from server.resources import Resources

log = logging.getLogger(__name__)


_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_NAMED_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>[^`]+)`")
_INDEX = re.compile(r"^\[(?P<index>\d+)\]")


def schema_error(exc: msgspec.ValidationError, prefix: str = "") -> ApiError:
    """A 422 whose detail and `errors` name the field, e.g. `detections[3].location.lat`, as rule errors do."""
    m = _AT_PATH.match(readable(str(exc)))
    msg, path = (m["msg"], m["path"] or "") if m else (str(exc), "")
    named = _NAMED_FIELD.match(msg)
    if named:  # an unknown or missing field is named by the message, not by the path
        path = f"{path}.{named['name']}"
    field = (prefix + path).lstrip(".") or "body"
    error: dict[str, object] = {"field": field, "detail": msg}
    if prefix and (idx := _INDEX.match(path)):
        error = {"index": int(idx["index"]), **error}
    elif not prefix:
        error = {"index": 0, **error}
    return bad_request(f"{field}: {msg}", errors=[error])


def decode_body(raw: bytes) -> tuple[list[DetectionCreate], bool]:
    """One detection, or {"detections": [...]}; a decode error names the field."""
    try:
        top = body_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise bad_request("the body must be a JSON object: one detection or {\"detections\": [...]}") from exc
    except msgspec.DecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
    if "detections" not in top:
        try:
            return [single_decoder.decode(raw)], False
        except msgspec.ValidationError as exc:
            raise schema_error(exc) from exc
    extra = sorted(set(top) - {"detections"})
    if extra:
        # A batch is {"detections": [...]} and nothing else: a stray field is a client bug, not to be dropped.
        raise bad_request(f"{extra[0]}: unknown field; a batch body is {{\"detections\": [...]}} only",
                          errors=[{"field": f, "detail": "unknown field"} for f in extra])
    try:
        return batch_decoder.decode(top["detections"]), True
    except msgspec.ValidationError as exc:
        raise schema_error(exc, "detections") from exc


class DetectionService:
    def __init__(self, res: Resources) -> None:
        self.res = res

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
        results, created = await self.res.ingest_writer.submit(camera, self._clean(items, batch))
        self.res.metrics.ingest_latency.observe(time.perf_counter() - started)
        if not batch:
            return (201 if created else 200), results[0]
        return 201, BatchIngestResult(results=results, created=created, duplicates=len(results) - created)
