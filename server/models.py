"""Every table model, imported in one place so the metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from server.auth.models import Camera, RefreshToken, Unit, User
from server.detections.models import Detection, DetectionImage
from server.hits.models import Hit, HitEvent, HitRead, Suppression
from server.hotlist.models import HotlistEntry, HotlistImport, HotlistListing

metadata = SQLModel.metadata

__all__ = ["Camera", "Detection", "DetectionImage", "Hit", "HitEvent", "HitRead", "HotlistEntry", "HotlistImport", "HotlistListing", "RefreshToken", "Suppression", "Unit",
           "User", "metadata"]
