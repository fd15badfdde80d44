"""Credentials: environment, then config file, then defaults; the file is owner-only."""

from __future__ import annotations

import json
import os
import stat

import pytest

from hdredraw.engine import config
from hdredraw.engine.errors import ConfigError


def test_resolution_order(tmp_path):
    path = tmp_path / "c.json"
    config.save({"hdredraw_base_url": "https://file.example", "hdredraw_user_key": "file-key-1234",
                 "hidream_token": "file-token-5678", "job_timeout": 99}, path)
    env = {"HDREDRAW_USER_KEY": "env-key-abcd", "HDREDRAW_TIMEOUT": "42"}
    s = config.load(env, path)
    assert s.hdredraw_user_key == "env-key-abcd" and s.sources["hdredraw_user_key"] == "env"
    assert s.hdredraw_base_url == "https://file.example" and s.sources["hdredraw_base_url"] == "file"
    assert s.hidream_token == "file-token-5678" and s.job_timeout == 42.0
    assert s.hidream_base_url == config.HIDREAM_DEFAULT_URL and s.sources["hidream_base_url"] == "default"
    assert "file-key" not in repr(s) and "env-key" not in repr(s)


def test_file_is_owner_only_and_removable(tmp_path):
    path = tmp_path / "sub" / "c.json"
    config.save({"hdredraw_user_key": "k-0000-secret"}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    config.save({"hdredraw_user_key": ""}, path)
    assert "hdredraw_user_key" not in json.loads(path.read_text())


def test_default_path_follows_env_and_comfy_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("HDREDRAW_CONFIG")
    config.set_default_dir(tmp_path / "comfy-user" / "hdredraw")
    try:
        assert config.config_path() == tmp_path / "comfy-user" / "hdredraw" / "config.json"
    finally:
        config._default_dir = None
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.config_path() == tmp_path / "xdg" / "hdredraw" / "config.json"


def test_missing_base_url_explains_where_to_set_it():
    with pytest.raises(ConfigError) as info:
        config.load({}).require_hdredraw()
    assert "HDREDRAW_BASE_URL" in info.value.en and "HDREDRAW_BASE_URL" in info.value.zh
    with pytest.raises(ConfigError, match="HIDREAM_API_TOKEN"):
        config.load({}).require_hidream()


def test_bad_values_and_corrupt_file(tmp_path):
    with pytest.raises(ConfigError, match="HDREDRAW_TIMEOUT"):
        config.load({"HDREDRAW_TIMEOUT": "soon"})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        config.load({}, bad)


def test_status_never_reveals_secrets(tmp_path):
    path = tmp_path / "c.json"
    config.save({"hdredraw_user_key": "very-secret-key-9876"}, path)
    shown = json.dumps(config.status(config.load({}, path)), ensure_ascii=False)
    assert "very-secret" not in shown and "…9876" in shown
