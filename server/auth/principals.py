"""Who is calling: a signed-in person or a registered dash camera."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    """A person, as loaded from the database on this request (so a revoked grant takes effect at once)."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    unit_id: int | None
    trained: bool
    granted: bool

    @property
    def primary_role(self) -> str:
        for role in ("officer", "dispatcher", "rtcc", "supervisor", "chief", "auditor", "records", "admin"):
            if role in self.roles:
                return role
        return "none"


@dataclass(frozen=True, slots=True)
class CameraPrincipal:
    """A registered, enabled dash camera of a unit (policy F.3)."""

    camera_id: str
    unit_id: int
