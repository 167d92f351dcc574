"""Settings (config.py): TIERS_* variables typed and checked at start, and ``tiers config show``
(cli/config_cmd.py) with its secrets masked."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tierspayant.bootstrap import oidc_settings
from tierspayant.cli.config_cmd import config_app, mask_iban, mask_url
from tierspayant.config import Settings, SettingsError


@pytest.fixture(autouse=True)
def no_stray_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell running the tests may set TIERS_* variables: none of them here."""
    for name in list(os.environ):
        if name.startswith("TIERS_"):
            monkeypatch.delenv(name)


def show(env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(config_app, ["show"], env=env)
    return result.exit_code, result.output


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert s.var_dir == Path("var") and s.key_dir == Path("var/keys")
    assert s.database_url == "sqlite:///var/tierspayant.db"
    assert (s.host, s.port, s.workers, s.max_body_bytes) == ("127.0.0.1", 8000, 2, 64 * 1024)
    assert (s.checkpoint_seconds, s.checkpoint_events, s.bank_change_delay_hours, s.sign_in_hold_seconds) == (
        5.0, 1000, 72.0, 30.0)
    assert s.witness_keys == () and s.oidc_acr_values == ("eidas1",) and s.detection is None
    assert s.oidc_auth_modes == ("CARD", "MOBILE") and s.oidc_client_auth == "client_secret_basic"
    assert s.oidc_client_key_file is None
    assert not (s.unsafe_no_access_log or s.unsafe_plaintext_fields or s.unsafe_no_detection)
    assert s.oidc_issuer == s.oidc_client_secret == s.simulated_clock == ""
    assert s.model_fields_set == set()


def test_var_dir_drives_the_default_database_url(tmp_path: Path) -> None:
    s = Settings.from_env({"TIERS_VAR_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'tierspayant.db'}"
    assert s.key_dir == tmp_path / "keys"
    assert Settings(var_dir=tmp_path).database_url == s.database_url
    given = Settings.from_env({"TIERS_VAR_DIR": str(tmp_path), "TIERS_DATABASE_URL": "sqlite://"})
    assert given.database_url == "sqlite://"


def test_typed_values_from_variables(tmp_path: Path) -> None:
    s = Settings.from_env({"TIERS_PORT": "8001", "TIERS_WORKERS": "4", "TIERS_CHECKPOINT_SECONDS": "0.5",
                           "TIERS_WITNESS_KEYS": "w1+ab+AAA, w2+cd+BBB,", "TIERS_OIDC_ACR_VALUES": "eidas3  eidas2",
                           "TIERS_DETECTION": '{"quota_refusals": 3, "account_distinct": [1, 2, 3, 4]}',
                           "TIERS_VAR_DIR": str(tmp_path), "NOT_OURS": "x"})
    assert (s.port, s.workers, s.checkpoint_seconds) == (8001, 4, 0.5)
    assert s.witness_keys == ("w1+ab+AAA", "w2+cd+BBB")
    assert s.oidc_acr_values == ("eidas3", "eidas2")
    assert s.detection == {"quota_refusals": 3, "account_distinct": [1, 2, 3, 4]}
    assert Settings.from_env({"TIERS_OIDC_ACR_VALUES": "", "TIERS_DETECTION": ""}).oidc_acr_values == ()
    assert Settings.from_env({"TIERS_DETECTION": " "}).detection is None


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " yes "])
@pytest.mark.parametrize("flag", ["unsafe_no_access_log", "unsafe_plaintext_fields", "unsafe_no_detection"])
def test_booleans_on(flag: str, word: str) -> None:
    assert getattr(Settings.from_env({f"TIERS_{flag.upper()}": word}), flag) is True


@pytest.mark.parametrize("word", ["0", "false", "FALSE", "False", "no", "NO", "off", "OFF", ""])
@pytest.mark.parametrize("flag", ["unsafe_no_access_log", "unsafe_plaintext_fields", "unsafe_no_detection"])
def test_booleans_off(flag: str, word: str) -> None:
    assert getattr(Settings.from_env({f"TIERS_{flag.upper()}": word}), flag) is False


@pytest.mark.parametrize("word", ["2", "maybe", "enabled", "y!", "nope"])
def test_another_boolean_word_is_an_error_naming_its_variable(word: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TIERS_UNSAFE_NO_DETECTION": word})
    assert str(caught.value).startswith("TIERS_UNSAFE_NO_DETECTION: not a boolean")
    assert repr(word) in str(caught.value)


def test_a_bad_integer_names_its_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TIERS_PORT": "abc"})
    assert str(caught.value) == "TIERS_PORT: not an integer: 'abc'"
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, ValidationError)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("TIERS_MAX_BODY_BYTES", "64k", r"^TIERS_MAX_BODY_BYTES: not an integer: '64k'$"),
    ("TIERS_SIGN_IN_HOLD_SECONDS", "soon", r"^TIERS_SIGN_IN_HOLD_SECONDS: not a number: 'soon'$"),
    ("TIERS_WORKERS", "0", r"^TIERS_WORKERS: must be at least 1: '0'$"),
    ("TIERS_DETECTION", "{quota_refusals: 3}", r"^TIERS_DETECTION: not valid JSON"),
    ("TIERS_DETECTION", "[1, 2]", r"^TIERS_DETECTION: not a JSON object"),
    ("TIERS_DETECTION", '{"nope": 1}', r"^TIERS_DETECTION: unknown detection setting\(s\): nope$"),
])
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({variable: value})


def test_every_bad_variable_is_listed_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TIERS_PORT": "abc", "TIERS_DETECTION": "{", "TIERS_UNSAFE_NO_ACCESS_LOG": "sure",
                           "TIERS_HOST": "fine"})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "TIERS_PORT", "TIERS_UNSAFE_NO_ACCESS_LOG", "TIERS_DETECTION"]
    assert str(caught.value).count("\n") == 2


def test_from_env_reads_only_the_mapping_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERS_PORT", "9001")
    assert Settings.from_env({}).port == 8000
    assert Settings.from_env().port == 9001
    assert Settings.from_env({"tiers_port": "9002"}).port == 8000  # names are upper case, as before


def test_direct_construction_ignores_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIERS_PORT", "9001")
    monkeypatch.setenv("TIERS_UNSAFE_NO_DETECTION", "1")
    s = Settings(database_url="sqlite://", var_dir=tmp_path, detection={"quota_refusals": 5},
                 sign_in_hold_seconds=0.0, oidc_acr_values=("eidas3",))
    assert s.port == 8000 and not s.unsafe_no_detection
    assert s.detection == {"quota_refusals": 5} and s.sign_in_hold_seconds == 0.0
    with pytest.raises(SettingsError, match="TIERS_NO_SUCH: not a setting"):
        Settings(no_such=1)


def test_frozen_and_copied_with_changes(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path)
    with pytest.raises(ValidationError):
        s.port = 1  # type: ignore[misc]
    faster = s.model_copy(update={"checkpoint_seconds": 0.2})
    assert faster.checkpoint_seconds == 0.2 and faster.var_dir == tmp_path and s.checkpoint_seconds == 5.0


def test_pro_sante_connect_client_settings(tmp_path: Path) -> None:
    s = Settings.from_env({"TIERS_OIDC_AUTH_MODES": "CARD", "TIERS_OIDC_CLIENT_AUTH": "client_secret_post"})
    assert s.oidc_auth_modes == ("CARD",) and s.oidc_client_auth == "client_secret_post"
    with pytest.raises(SettingsError, match="TIERS_OIDC_CLIENT_AUTH"):
        Settings.from_env({"TIERS_OIDC_CLIENT_AUTH": "none"})
    # private_key_jwt needs the platform's key, said at start and naming the variable
    with pytest.raises(SettingsError, match="TIERS_OIDC_CLIENT_KEY_FILE: required with"):
        Settings.from_env({"TIERS_OIDC_ISSUER": "https://psc.test", "TIERS_OIDC_CLIENT_AUTH": "private_key_jwt"})
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    given = Settings.from_env({"TIERS_OIDC_ISSUER": "https://psc.test", "TIERS_OIDC_CLIENT_AUTH": "private_key_jwt",
                               "TIERS_OIDC_CLIENT_KEY_FILE": str(bad)})
    with pytest.raises(SettingsError, match="TIERS_OIDC_CLIENT_KEY_FILE: not an RSA or EC P-256 private key"):
        oidc_settings(given)
    with pytest.raises(SettingsError, match="TIERS_OIDC_CLIENT_KEY_FILE: cannot be read"):
        oidc_settings(given.model_copy(update={"oidc_client_key_file": tmp_path / "absent.pem"}))


def test_the_client_secret_is_not_in_the_repr() -> None:
    assert "hunter2" not in repr(Settings(oidc_client_secret="hunter2"))


def test_masks() -> None:
    assert mask_url("postgresql://user:secret@host/db") == "postgresql://user:***@host/db"
    assert mask_url("postgresql+psycopg://app:p%40ss@db:5432/tiers?sslpassword=k3y") == \
        "postgresql+psycopg://app:***@db:5432/tiers?sslpassword=***"
    assert mask_url("sqlite:///var/tierspayant.db") == "sqlite:///var/tierspayant.db"
    assert mask_url("postgresql://user@host/db") == "postgresql://user@host/db"
    assert "w0rd" not in mask_url("postgresql://user:pa@ss:w0rd@host/db")  # unparsable: masked anyway
    assert mask_iban("FR7630006000011234567890189") == "FR76" + "*" * 19 + "0189"


def test_config_show_lists_every_setting_with_its_origin(tmp_path: Path) -> None:
    code, out = show({"TIERS_VAR_DIR": str(tmp_path), "TIERS_PORT": "8001"})
    assert code == 0, out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("TIERS_")}
    assert set(lines) == {f"TIERS_{name.upper()}" for name in Settings.model_fields}
    assert lines["TIERS_PORT"] == ["env", "8001"]
    assert lines["TIERS_WORKERS"] == ["default", "2"]
    assert lines["TIERS_VAR_DIR"] == ["env", str(tmp_path)]
    assert lines["TIERS_DATABASE_URL"][:2] == ["default", f"sqlite:///{tmp_path / 'tierspayant.db'}"]
    assert lines["TIERS_OIDC_ACR_VALUES"] == ["default", "eidas1"]
    assert lines["TIERS_OIDC_AUTH_MODES"] == ["default", "CARD", "MOBILE"]
    assert lines["TIERS_UNSAFE_NO_DETECTION"] == ["default", "false"]


def test_config_show_masks_secrets() -> None:
    code, out = show({"TIERS_DATABASE_URL": "postgresql+psycopg://tiers:Db-S3cret@db.internal:5432/tiers",
                      "TIERS_OIDC_CLIENT_SECRET": "Oidc-S3cret", "TIERS_OIDC_CLIENT_ID": "tierspayant",
                      "TIERS_DEBTOR_IBAN": "FR7630006000011234567890189"})
    assert code == 0, out
    for secret in ("Db-S3cret", "Oidc-S3cret", "30006000011234567890"):
        assert secret not in out
    assert "postgresql+psycopg://tiers:***@db.internal:5432/tiers" in out
    assert re.search(r"TIERS_OIDC_CLIENT_SECRET +env +\*\*\*\n", out)
    assert "FR76*******************0189" in out
    assert "tierspayant" in out  # what is not a secret is shown


def test_config_show_reports_bad_variables_without_a_traceback() -> None:
    code, out = show({"TIERS_PORT": "abc", "TIERS_OIDC_CLIENT_SECRET": "Oidc-S3cret", "TIERS_PROT": "1"})
    assert code == 2
    assert "TIERS_PORT: not an integer: 'abc'" in out
    assert "Traceback" not in out and "Oidc-S3cret" not in out


def test_config_show_names_variables_that_are_not_settings() -> None:
    code, out = show({"TIERS_PROT": "8001"})
    assert code == 0
    assert "not settings (ignored): TIERS_PROT" in out
    assert "8001" not in out  # only the name: a mistyped variable may hold a secret
