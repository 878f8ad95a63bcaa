"""Unit tests for server.settings: a strict environment, safe production defaults, and the signing key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError, check_unknown_env, env_name, load_settings

PROD = {"ALPR_ENV": "production", "ALPR_SECRET_KEY": "s" * 40, "DATABASE_URL": "postgresql+asyncpg://db/alpr",
        "REDIS_URL": "redis://redis:6379/0", "ALPR_KEK": "a2V5LWVuY3J5cHRpb24ta2V5LWZvci10ZXN0cy0zMmI="}


@pytest.mark.parametrize("name", ["ALPR_RETENTION_DAY", "ALPR_SECRET", "ALPR_DATABASE_URL", "ALPR_REDIS_URL",
                                  "ALPR_X"])
def test_unknown_alpr_variable_is_rejected_naming_it(name: str) -> None:
    """A typo in an ALPR_ variable stops the server with a message naming the variable, instead of a silent default."""
    with pytest.raises(SettingsError, match=name):
        load_settings({name: "1"})


def test_other_variables_are_ignored() -> None:
    """Variables outside the ALPR_ prefix (PATH, HOME, ...) do not matter."""
    check_unknown_env({"PATH": "/bin", "HOME": "/root", "ALPRX": "1", "ALPR_RETENTION_DAYS": "30"})
    assert load_settings({"PATH": "/bin", "HOME": "/root"}).retention_days == 14


def test_defaults_for_development() -> None:
    """With an empty environment the server runs in development on SQLite and embedded Redis, 14-day retention."""
    s = load_settings({})
    assert s.env == "development"
    assert s.retention_days == 14
    assert s.database_url is None and s.redis_url is None
    assert s.is_sqlite and s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.password_hash_profile == "strong"


def test_database_and_redis_urls_are_read_without_prefix() -> None:
    """DATABASE_URL and REDIS_URL are read as named in api-v1.md, without the ALPR_ prefix."""
    s = load_settings({"DATABASE_URL": "postgresql+asyncpg://db/alpr", "REDIS_URL": "redis://r:6379/1"})
    assert s.database_url == "postgresql+asyncpg://db/alpr"
    assert s.effective_database_url == "postgresql+asyncpg://db/alpr" and not s.is_sqlite
    assert s.redis_url == "redis://r:6379/1"
    assert env_name("database_url") == "DATABASE_URL" and env_name("redis_url") == "REDIS_URL"
    assert env_name("retention_days") == "ALPR_RETENTION_DAYS"


def test_prefixed_values_are_read_and_typed() -> None:
    """ALPR_ variables are read into typed settings."""
    s = load_settings({"ALPR_RETENTION_DAYS": "30", "ALPR_DATA_DIR": "/var/lib/alpr",
                       "ALPR_BOOTSTRAP_ADMIN": "chief:a-long-password"})
    assert s.retention_days == 30
    assert s.data_dir == Path("/var/lib/alpr")
    assert s.bootstrap_admin == "chief:a-long-password"


@pytest.mark.parametrize(("env", "words"), [
    ({"ALPR_RETENTION_DAYS": "fourteen"}, "retention_days"),
    ({"ALPR_RETENTION_DAYS": "0"}, "retention_days"),
    ({"ALPR_ENV": "staging"}, "env"),
    ({"ALPR_BOOTSTRAP_ADMIN": "no-colon-here"}, "ALPR_BOOTSTRAP_ADMIN"),
    ({"ALPR_PASSWORD_HASH_PROFILE": "weak"}, "password_hash_profile"),
])
def test_invalid_values_are_refused(env: dict[str, str], words: str) -> None:
    """A value of the wrong type or out of range is refused, naming the setting."""
    with pytest.raises(SettingsError, match=words):
        load_settings(env)


def test_production_with_everything_set_loads() -> None:
    """Production with a secret, PostgreSQL and Redis loads."""
    s = load_settings(PROD)
    assert s.env == "production" and s.signing_key() == "s" * 40


@pytest.mark.parametrize("missing", ["ALPR_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALPR_KEK"])
def test_production_without_a_required_setting_is_refused(missing: str) -> None:
    """Production refuses to start without a secret key, a database URL, a Redis URL or a key-encryption key, naming
    what is missing."""
    env = {k: v for k, v in PROD.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_settings(env)


def test_production_with_a_short_secret_is_refused() -> None:
    """Production refuses a secret key shorter than 32 characters."""
    with pytest.raises(SettingsError, match="ALPR_SECRET_KEY"):
        load_settings({**PROD, "ALPR_SECRET_KEY": "short-secret"})


def test_production_with_fast_hash_profile_is_refused() -> None:
    """Production refuses the test-only fast password hashing, from the environment or an override."""
    with pytest.raises(SettingsError, match="strong"):
        load_settings({**PROD, "ALPR_PASSWORD_HASH_PROFILE": "fast-tests-only"})
    with pytest.raises(SettingsError, match="strong"):
        load_settings(PROD, password_hash_profile="fast-tests-only")


def test_settings_are_immutable() -> None:
    """Settings cannot be changed after loading (one consistent configuration per process)."""
    s = load_settings({})
    with pytest.raises(ValueError):
        s.retention_days = 1  # type: ignore[misc]


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    """Without ALPR_SECRET_KEY a key is generated once into the data dir, mode 0600, and reused after a restart."""
    data_dir = tmp_path / "alpr-data"
    s = load_settings({"ALPR_DATA_DIR": str(data_dir)})
    key = s.signing_key()
    key_file = data_dir / "secret.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key) >= 32
    assert key_file.read_text().strip() == key
    assert s.signing_key() == key
    # A restart (new settings object, same data dir) signs with the same key, so tokens stay valid.
    assert load_settings({"ALPR_DATA_DIR": str(data_dir)}).signing_key() == key
    # Another installation gets another key.
    assert load_settings({"ALPR_DATA_DIR": str(tmp_path / "other")}).signing_key() != key


def test_explicit_secret_key_wins_and_writes_no_file(tmp_path: Path) -> None:
    """With ALPR_SECRET_KEY set, that key signs tokens and nothing is written to the data dir."""
    s = load_settings({"ALPR_DATA_DIR": str(tmp_path), "ALPR_SECRET_KEY": "e" * 40})
    assert s.signing_key() == "e" * 40
    assert not (tmp_path / "secret.key").exists()


def test_every_field_has_an_environment_name() -> None:
    """Every setting can be set from the environment, and the unprefixed names are exactly the two URLs."""
    names = {env_name(f) for f in Settings.model_fields}
    assert {n for n in names if not n.startswith("ALPR_")} == {"DATABASE_URL", "REDIS_URL"}
    check_unknown_env(dict.fromkeys(names, "x"))


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    """Several workers generating the key at the same moment all end up signing with the same, complete key."""
    import threading

    barrier = threading.Barrier(12)
    keys: list[str] = []

    def start() -> None:
        s = load_settings({"ALPR_DATA_DIR": str(tmp_path)})
        barrier.wait()
        keys.append(s.signing_key())

    threads = [threading.Thread(target=start) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 12 and len(set(keys)) == 1
    assert (tmp_path / "secret.key").read_text() == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]  # no temporary files left behind


def test_empty_key_file_is_refused(tmp_path: Path) -> None:
    """An emptied key file stops the server instead of signing tokens with an empty key."""
    (tmp_path / "secret.key").write_text("\n")
    with pytest.raises(SettingsError, match="empty"):
        load_settings({"ALPR_DATA_DIR": str(tmp_path)}).signing_key()
