"""Evidence exports (policy F.4): requested with case and purpose, approved by the Chief only, produced once as a
bundle of JSON, decrypted images and a SHA-256 manifest whose hash is in the audit trail."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

from support import make_user, post_read, read

JPEG = b"\xff\xd8\xff\xe0" + b"plate crop bytes" * 10
PNG = b"\x89PNG\r\n\x1a\n" + b"vehicle overview" * 10
REQUEST = {"case_number": "24-001234", "purpose": "criminal_investigation",
           "purpose_detail": "Reads of the getaway car for the prosecutor's file"}


async def test_export_needs_the_chiefs_approval_and_is_produced_once(world) -> None:
    """Pending → bundle 403; a non-chief cannot approve; the chief approves; one bundle with a manifest; then 409."""
    body = read("ABC1234", images={"plate": base64.b64encode(JPEG).decode(),
                                   "vehicle": base64.b64encode(PNG).decode()})
    other = read("XYZ9876")
    for b in (body, other):
        await post_read(world.camera, b)
    rtcc = world.rtcc
    resp = await rtcc.client.post("/api/v1/exports", json={**REQUEST, "detection_ids": [body["id"], other["id"]]})
    assert resp.status_code == 201, resp.text
    export = resp.json()
    assert export["status"] == "pending"

    denied = await rtcc.client.get(f"/api/v1/exports/{export['id']}/bundle")
    assert denied.status_code == 403 and denied.json()["error"] == "export_not_approved"
    sup = await make_user(world.admin, world.client(), world.client, "sup1", ["supervisor"])
    assert (await sup.client.post(f"/api/v1/exports/{export['id']}/approve")).status_code == 403
    approved = await world.admin.client.post(f"/api/v1/exports/{export['id']}/approve",  # admin holds chief
                                             json={"note": "Approved for the DA's office"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    bundle = await rtcc.client.get(f"/api/v1/exports/{export['id']}/bundle")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    digest = hashlib.sha256(bundle.content).hexdigest()
    assert bundle.headers["x-bundle-sha256"] == digest
    z = zipfile.ZipFile(io.BytesIO(bundle.content))
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["case_number"] == "24-001234"
    for f in manifest["files"]:
        assert hashlib.sha256(z.read(f["name"])).hexdigest() == f["sha256"]
    assert z.read(f"images/{body['id']}-plate.jpg") == JPEG
    assert z.read(f"images/{body['id']}-vehicle.png") == PNG
    dets = json.loads(z.read("detections.json"))["detections"]
    assert [d["id"] for d in dets] == [body["id"], other["id"]]

    again = await rtcc.client.get(f"/api/v1/exports/{export['id']}/bundle")
    assert again.status_code == 409 and digest in again.json()["detail"]
    state = (await rtcc.client.get(f"/api/v1/exports/{export['id']}")).json()
    assert state["status"] == "produced" and state["bundle_sha256"] == digest

    auditor = await make_user(world.admin, world.client(), world.client, "auditor1", ["auditor"])
    trail = (await auditor.client.get("/api/v1/audit", params={"action": "export_produce"})).json()["events"]
    assert trail[0]["details"]["bundle_sha256"] == digest and trail[0]["actor_name"] == "rtcc1"
    actions = {e["action"] for e in (await auditor.client.get("/api/v1/audit")).json()["events"]}
    assert {"export_request", "export_approve", "export_produce"} <= actions


async def test_export_request_is_checked(world) -> None:
    """An unknown detection or a missing purpose is refused and nothing is recorded as pending."""
    body = read("ABC1234")
    await post_read(world.camera, body)
    c = world.rtcc.client
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await c.post("/api/v1/exports", json={**REQUEST, "detection_ids": [missing]})).status_code == 404
    no_purpose = {k: v for k, v in REQUEST.items() if k != "purpose"}
    assert (await c.post("/api/v1/exports", json={**no_purpose, "detection_ids": [body["id"]]})).status_code == 422
    assert (await c.post("/api/v1/exports", json={**REQUEST, "purpose_detail": "investigation",
                                                 "detection_ids": [body["id"]]})).status_code == 422
    assert (await world.officer.client.get("/api/v1/exports/1")).status_code == 404
