"""Every table model, imported in one place so the metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from server.audit.models import AuditEvent, AuditFlag
from server.auth.models import Camera, RefreshToken, Unit, User
from server.cases.models import Case, CaseHold
from server.detections.models import DataKey, Detection, DetectionImage
from server.hits.models import Hit, HitEvent, HitRead, Suppression
from server.hotlist.models import HotlistEntry, HotlistImport, HotlistListing
from server.records.models import ExportRequest
from server.retention.models import LedgerCount

metadata = SQLModel.metadata

__all__ = ["AuditEvent", "AuditFlag", "Case", "CaseHold", "DataKey", "ExportRequest", "LedgerCount", "Camera", "Detection", "DetectionImage", "Hit", "HitEvent", "HitRead", "HotlistEntry", "HotlistImport", "HotlistListing", "RefreshToken", "Suppression", "Unit",
           "User", "metadata"]
