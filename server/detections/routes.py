"""Routes for dash cameras posting reads."""

from __future__ import annotations

from litestar import Request, Response, post

from server.auth.access import require_camera
from server.detections.service import DetectionService, decode_body
from server.resources import ServerResources


@post("/api/v1/detections", status_code=201,
      summary="Post one detection or a batch of up to 1,000",
      description="Body: one detection, or {\"detections\": [...]}. A resend of a known id answers 200 with the "
                  "stored result and stores nothing new. Hits are pushed to the unit, the RTCC and dispatch.")
async def post_detections(request: Request, resources: ServerResources) -> Response:
    # Checked here rather than as a guard: Litestar copies the handler for every guard call, a cost on the
    # busiest route.
    require_camera(request.user)
    items, batch = decode_body(await request.body())
    status, result = await DetectionService(resources).ingest(request.user, items, batch)
    return Response(result, status_code=status)
