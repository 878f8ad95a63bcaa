"""Tables for accounts, units and dash cameras."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from server.db import UtcDateTime, utcnow

ROLES = ("officer", "dispatcher", "rtcc", "supervisor", "records", "auditor", "chief", "admin")


def _ts(**kw: object) -> Column:
    return Column(UtcDateTime(), **kw)


class Unit(SQLModel, table=True):
    """A patrol unit (car) with its call sign."""

    id: int | None = Field(default=None, primary_key=True)
    call_sign: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class User(SQLModel, table=True):
    """A person who signs in: officer, dispatcher, RTCC analyst, supervisor, records, auditor, chief, admin."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    password_hash: str
    display_name: str
    badge_number: str | None = None
    # Comma-separated role names; a small closed set, so no join table.
    roles: str
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    is_active: bool = True
    training_completed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    training_recorded_by: int | None = None
    access_granted: bool = False
    access_grant_note: str | None = None
    access_granted_by: int | None = None
    access_granted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))

    @property
    def role_list(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]


class Camera(SQLModel, table=True):
    """A dash camera mounted in a patrol unit (policy F.3); its secret is stored hashed."""

    id: str = Field(primary_key=True, max_length=32)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    label: str
    secret_hash: str
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class RefreshToken(SQLModel, table=True):
    """An issued refresh token; rotation revokes it so a stolen one works at most once."""

    __tablename__ = "refresh_token"

    jti: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
