"""Settings from the environment: one strict, cached object for the whole process."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "ALPR_"
# Variables read without the prefix, as api-v1.md names them.
UNPREFIXED = {"DATABASE_URL": "database_url", "REDIS_URL": "redis_url"}


class SettingsError(ValueError):
    """The environment describes a configuration the server must not run with."""


class Settings(BaseModel):
    """Everything the server reads from its environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("./alpr-data")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    retention_days: int = Field(default=14, ge=1, le=3650)
    # How often the in-process purge runs, how many detections one purge transaction removes, and the pause
    # between transactions: small batches keep each write lock short, so ingest never waits long behind one.
    retention_interval_seconds: float = Field(default=3600, gt=0)
    # 10 and 0.3: under 500 reads/s a batch then holds the writer ~3.5 ms and drains ~850 detections/s (bench/purge.py).
    retention_batch_size: int = Field(default=10, ge=1, le=10_000)
    retention_batch_pause_seconds: float = Field(default=0.005, ge=0, le=10)
    # At most this share of the writer's time goes to the purge (it sleeps in proportion to each batch), so a
    # backlog drains steadily without starving ingest.
    retention_max_duty: float = Field(default=0.3, gt=0, le=1)
    # Key-encryption key for evidence (AES-256, base64 of 32 bytes): wraps each image's own data key.
    kek: str | None = None
    # Former KEKs, comma-separated, still accepted for unwrapping until `alpr keys rotate` re-wraps under kek.
    retired_keks: str | None = None
    # Audit flags: this many searches for one plate by one account in a day without an open registered case,
    # or a day's searches above this multiple of the account's daily average (and above search_flag_floor).
    search_flag_repeats: int = Field(default=5, ge=2)
    search_flag_volume_factor: float = Field(default=5.0, gt=1)
    search_flag_floor: int = Field(default=50, ge=1)
    bootstrap_admin: str | None = None
    token_issuer: str = "alpr"
    token_audience: str = "alpr-api"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_hours: int = Field(default=12, ge=1, le=24 * 30)
    device_token_hours: int = Field(default=24, ge=1, le=24 * 30)
    # A repeated read of one plate by one unit within this window folds into the open hit.
    fold_window_seconds: int = Field(default=600, ge=0)
    # Cameras buffer while offline; a read may be this far in the future by clock skew.
    max_future_skew_seconds: int = Field(default=300, ge=0)
    max_image_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    socket_queue_size: int = Field(default=256, ge=1)
    ws_auth_timeout_seconds: float = Field(default=5.0, gt=0)
    # An officer's misread suppresses that entry and plate for the unit this long: one shift.
    suppression_hours: float = Field(default=12, gt=0, le=72)
    # A hit a unit has not acknowledged is re-sent this often, up to ack_max_resends times; the first
    # miss also escalates it to the RTCC and supervisors.
    ack_resend_seconds: float = Field(default=30, gt=0)
    ack_max_resends: int = Field(default=3, ge=0, le=100)
    # Each recipient's durable event log keeps about this many events (replayed after a reconnect).
    delivery_log_length: int = Field(default=10_000, ge=100)
    # How often expired hot-list entries are looked for, to tell their open hits at once.
    expiry_sweep_seconds: float = Field(default=15, gt=0)
    # Full lists dropped here (SOURCE[_anything].FORMAT, e.g. NCIC_2026-11-28.ncic) replace that source's list.
    hotlist_watch_dir: Path | None = None
    hotlist_watch_seconds: float = Field(default=60, gt=0)
    # A source whose last good full refresh is older than this is flagged stale: stale lists cause bad stops.
    hotlist_stale_hours: float = Field(default=24, gt=0)
    hotlist_import_max_mb: int = Field(default=1024, ge=1)
    # Plates added to the built-in skip list of junk plates, comma-separated ("NOPLATE,TBD").
    hotlist_skip_extra: str = ""
    log_level: str = "INFO"
    # "fast-tests-only" makes test suites quick; production refuses it.
    password_hash_profile: Literal["strong", "fast-tests-only"] = "strong"

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> Settings:
        if self.env == "production":
            missing = [n for n, v in (("ALPR_SECRET_KEY", self.secret_key), ("DATABASE_URL", self.database_url),
                                      ("REDIS_URL", self.redis_url), ("ALPR_KEK", self.kek)) if not v]
            if missing:
                raise ValueError(f"production needs {', '.join(missing)} set")
            if self.password_hash_profile != "strong":
                raise ValueError("production needs ALPR_PASSWORD_HASH_PROFILE=strong")
            if len(self.secret_key or "") < 32:
                raise ValueError("ALPR_SECRET_KEY must be at least 32 characters")
        from server.common.crypto import CryptoError, parse_kek

        for name, value in (("ALPR_KEK", self.kek), *(("ALPR_RETIRED_KEKS", k) for k in
                                                        (self.retired_keks or "").split(",") if k.strip())):
            if value:
                try:
                    parse_kek(value)
                except CryptoError as exc:
                    raise ValueError(f"{name}: {exc}") from exc
        if self.bootstrap_admin is not None and self.bootstrap_admin and ":" not in self.bootstrap_admin:
            raise ValueError("ALPR_BOOTSTRAP_ADMIN must look like name:password")
        return self

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "alpr.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.sqlite_path.resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def signing_key(self) -> str:
        """The token key: from the environment, else generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        return self._generated_key("secret.key", lambda: secrets.token_urlsafe(48))

    def key_encryption_keys(self) -> tuple[str, list[str]]:
        """The current KEK and the retired ones: from the environment, else (development) generated once."""
        from server.common.crypto import generate_kek

        current = self.kek or self._generated_key("kek.key", generate_kek)
        return current, [k.strip() for k in (self.retired_keks or "").split(",") if k.strip()]

    def _generated_key(self, name: str, make) -> str:  # noqa: ANN001 - a key factory
        key_file = self.data_dir / name
        if key_file.exists():
            return _read_key(key_file)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = make()
        # Written whole to a private temporary file, then published with link(), which fails if the key file
        # exists: two processes starting at once agree on one key, and no one ever reads a half-written file.
        tmp = self.data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(key)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, key_file)
            except FileExistsError:
                return _read_key(key_file)  # another process published its key first
        finally:
            tmp.unlink(missing_ok=True)
        return key


def _read_key(key_file: Path) -> str:
    key = key_file.read_text().strip()
    if not key:
        # Signing with an empty key would accept tokens anyone can forge.
        if key_file.name == "kek.key":
            # Never suggest deleting it: a new KEK cannot open a single stored image.
            raise SettingsError(f"{key_file} is empty; restore it from the secret store, or set ALPR_KEK")
        raise SettingsError(f"{key_file} is empty; delete it to generate a new key, or set ALPR_SECRET_KEY")
    return key


def env_name(field: str) -> str:
    """The environment variable that sets a field."""
    return {v: k for k, v in UNPREFIXED.items()}.get(field, ENV_PREFIX + field.upper())


def check_unknown_env(environ: dict[str, str]) -> None:
    """Refuse ALPR_* variables we do not know: a typo must not silently fall back to a default."""
    known = {env_name(f) for f in Settings.model_fields}
    unknown = sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def load_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from an environment mapping (the process's by default) plus explicit overrides."""
    environ = dict(os.environ if environ is None else environ)
    check_unknown_env(environ)
    values: dict[str, object] = {f: environ[env_name(f)] for f in Settings.model_fields if environ.get(env_name(f))}
    values.update(overrides)
    try:
        return Settings.model_validate(values)
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
