from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from cliniloop.services.core.access import ROLES, SECRETS_FILE, ApiSecrets, allows, api_secrets
from cliniloop.services.core.settings import Settings

ENV_NAMES = {
    "admin": "CLINILOOP_API_ADMIN_TOKEN",
    "engineer": "CLINILOOP_API_ENGINEER_TOKEN",
    "annotator": "CLINILOOP_API_ANNOTATOR_TOKEN",
    "webhook": "CLINILOOP_WEBHOOK_SECRET",
}
FIELDS = {"admin": "api_admin_token", "engineer": "api_engineer_token", "annotator": "api_annotator_token", "webhook": "webhook_secret"}
GIVEN = {
    "admin": "admin-token-from-settings-0001",
    "engineer": "engineer-token-from-settings-01",
    "annotator": "annotator-token-from-settings-1",
    "webhook": "webhook-secret-from-settings-01",
}


@pytest.fixture(autouse=True)
def _no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)


def settings_with(var_dir: Path, **given: str) -> Settings:
    return Settings(_env_file=None, var_dir=var_dir, **{FIELDS[k]: SecretStr(v) for k, v in given.items()})


def test_secrets_set_in_settings_are_used_and_no_file_is_made(tmp_path: Path) -> None:
    var = tmp_path / "var"
    secrets = api_secrets(settings_with(var, **GIVEN))
    assert secrets.tokens == {r: GIVEN[r] for r in ROLES}
    assert secrets.webhook_secret == GIVEN["webhook"]
    assert not (var / SECRETS_FILE).exists()


def test_missing_secrets_are_made_once_into_a_private_file_and_reused(tmp_path: Path) -> None:
    var = tmp_path / "var"
    settings = settings_with(var, admin=GIVEN["admin"])
    first = api_secrets(settings)
    path = var / SECRETS_FILE
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert set(stored) == {"engineer", "annotator", "webhook"}, "only the secrets not set in settings are kept in the file"
    assert GIVEN["admin"] not in path.read_text(encoding="utf-8")
    assert first.tokens["admin"] == GIVEN["admin"]
    assert first.tokens["engineer"] == stored["engineer"] and first.tokens["annotator"] == stored["annotator"]
    assert first.webhook_secret == stored["webhook"]
    made = [first.tokens["engineer"], first.tokens["annotator"], first.webhook_secret]
    assert len(set(made)) == 3 and all(len(v) >= 16 for v in made)
    assert not [p.name for p in var.iterdir() if p.name != SECRETS_FILE], "no temporary file is left behind"

    mtime = path.stat().st_mtime_ns
    second = api_secrets(settings_with(var, admin=GIVEN["admin"]))
    assert second.tokens == first.tokens and second.webhook_secret == first.webhook_secret
    assert path.stat().st_mtime_ns == mtime, "a complete file is reused, not rewritten"


def test_all_missing_are_generated_distinct(tmp_path: Path) -> None:
    secrets = api_secrets(settings_with(tmp_path / "var"))
    values = [*secrets.tokens.values(), secrets.webhook_secret]
    assert len(set(values)) == 4
    assert set(json.loads((tmp_path / "var" / SECRETS_FILE).read_text())) == {"admin", "engineer", "annotator", "webhook"}
    again = api_secrets(settings_with(tmp_path / "var"))
    assert again.tokens == secrets.tokens and again.webhook_secret == secrets.webhook_secret


def test_a_secret_set_later_in_settings_wins_over_the_file(tmp_path: Path) -> None:
    var = tmp_path / "var"
    made = api_secrets(settings_with(var))
    now = api_secrets(settings_with(var, engineer=GIVEN["engineer"]))
    assert now.tokens["engineer"] == GIVEN["engineer"] != made.tokens["engineer"]
    assert now.tokens["admin"] == made.tokens["admin"] and now.webhook_secret == made.webhook_secret


def test_a_file_missing_some_secrets_is_completed_keeping_the_others(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    (var / SECRETS_FILE).write_text(json.dumps({"admin": "admin-from-an-older-file-01"}), encoding="utf-8")
    secrets = api_secrets(settings_with(var))
    assert secrets.tokens["admin"] == "admin-from-an-older-file-01"
    stored = json.loads((var / SECRETS_FILE).read_text())
    assert stored["admin"] == "admin-from-an-older-file-01" and set(stored) == {"admin", "engineer", "annotator", "webhook"}


def test_a_corrupt_secrets_file_is_an_error_naming_it(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    (var / SECRETS_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=SECRETS_FILE):
        api_secrets(settings_with(var))


@pytest.mark.parametrize("key", ["admin", "engineer", "annotator", "webhook"])
def test_short_secrets_are_refused_naming_the_setting(tmp_path: Path, key: str) -> None:
    given = dict(GIVEN) | {key: "x" * 15}
    with pytest.raises(ValueError, match=ENV_NAMES[key]) as err:
        api_secrets(settings_with(tmp_path / "var", **given))
    assert "x" * 15 not in str(err.value)
    assert not (tmp_path / "var" / SECRETS_FILE).exists()


def test_sixteen_characters_are_enough(tmp_path: Path) -> None:
    given = dict(GIVEN) | {"annotator": "y" * 16}
    assert api_secrets(settings_with(tmp_path / "var", **given)).tokens["annotator"] == "y" * 16


def test_role_of_maps_each_token_to_its_role(tmp_path: Path) -> None:
    secrets = api_secrets(settings_with(tmp_path / "var", **GIVEN))
    for role in ROLES:
        assert secrets.role_of(GIVEN[role]) == role
    for unknown in (None, "", "nope", GIVEN["admin"][:-1], GIVEN["admin"] + "x", GIVEN["webhook"], GIVEN["admin"].upper()):
        assert secrets.role_of(unknown) is None


def test_repeated_tokens_grant_the_highest_role() -> None:
    secrets = ApiSecrets(tokens={"admin": "same-token-000000001", "engineer": "same-token-000000001", "annotator": "a" * 20}, webhook_secret="w" * 20)
    assert secrets.role_of("same-token-000000001") == "admin"


def test_webhook_secret_check() -> None:
    secrets = ApiSecrets(tokens={r: f"{r}-token-0123456789" for r in ROLES}, webhook_secret="the-webhook-secret-01")
    assert secrets.webhook_secret_ok("the-webhook-secret-01")
    for wrong in (None, "", "the-webhook-secret-0", "admin-token-0123456789"):
        assert not secrets.webhook_secret_ok(wrong)


@pytest.mark.parametrize(
    ("role", "needed", "expected"),
    [
        ("annotator", "annotator", True),
        ("annotator", "engineer", False),
        ("annotator", "admin", False),
        ("engineer", "annotator", True),
        ("engineer", "engineer", True),
        ("engineer", "admin", False),
        ("admin", "annotator", True),
        ("admin", "engineer", True),
        ("admin", "admin", True),
    ],
)
def test_allows_follows_the_role_order(role: str, needed: str, expected: bool) -> None:
    assert allows(role, needed) is expected


def test_roles_are_ordered_low_to_high() -> None:
    assert ROLES == ("annotator", "engineer", "admin")


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    secrets = api_secrets(settings_with(tmp_path / "var", **GIVEN))
    for text in (repr(secrets), str(secrets), f"{secrets}", repr([secrets])):
        for value in GIVEN.values():
            assert value not in text
    assert "admin" in repr(secrets) and "***" in repr(secrets)
