"""The export bundle, pure: detections as JSON, decrypted images, and a manifest with each file's SHA-256."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

_EXT = {"image/jpeg": "jpg", "image/png": "png"}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the same files give the same zip, byte for byte


def image_name(detection_id: str, kind: str, content_type: str) -> str:
    return f"images/{detection_id}-{kind}.{_EXT.get(content_type, 'bin')}"


def build_bundle(header: dict[str, Any], detections: list[dict[str, Any]],
                 images: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """(zip bytes, its SHA-256). manifest.json lists every other file with its size and SHA-256."""
    files: list[tuple[str, bytes]] = [
        ("detections.json", json.dumps({**header, "detections": detections}, indent=2, sort_keys=True,
                                       default=str).encode()),
        *sorted(images)]
    manifest = {**header, "files": [{"name": n, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                                    for n, b in files]}
    files.append(("manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    body = out.getvalue()
    return body, hashlib.sha256(body).hexdigest()
