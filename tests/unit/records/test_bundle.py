"""Unit tests for server.records.bundle: the export zip and its manifest of SHA-256s."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from server.records.bundle import build_bundle, image_name


def test_manifest_lists_every_file_with_its_hash() -> None:
    """manifest.json names every other file with its size and SHA-256; the bundle hash is the zip's."""
    images = [(image_name("d1", "plate", "image/jpeg"), b"\xff\xd8\xffjpeg"),
              (image_name("d1", "vehicle", "image/png"), b"\x89PNGpng")]
    body, digest = build_bundle({"export_id": 3, "case_number": "24-1"}, [{"id": "d1", "plate": "ABC1234"}], images)
    assert digest == hashlib.sha256(body).hexdigest()
    z = zipfile.ZipFile(io.BytesIO(body))
    manifest = json.loads(z.read("manifest.json"))
    assert {f["name"] for f in manifest["files"]} == {"detections.json", "images/d1-plate.jpg", "images/d1-vehicle.png"}
    for f in manifest["files"]:
        data = z.read(f["name"])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["bytes"], f["sha256"])
    assert json.loads(z.read("detections.json"))["detections"][0]["plate"] == "ABC1234"


def test_same_content_same_bundle() -> None:
    """Built twice from the same content, the bundle is identical (fixed timestamps and order)."""
    args = ({"export_id": 1}, [{"id": "d"}], [("images/b.jpg", b"b"), ("images/a.jpg", b"a")])
    assert build_bundle(*args) == build_bundle(*args)
