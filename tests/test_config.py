"""Credentials: environment, then config file, then defaults; the file is owner-only."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from commands import run_hdredraw as run_cli

from hdredraw.engine import config
from hdredraw.engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]



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
    config.set_default_dir(tmp_path / "comfy-user" / "hdredraw")  # undone by the isolation fixture
    assert config.config_path() == tmp_path / "comfy-user" / "hdredraw" / "config.json"
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


# ------------------------------------------------------------------ base URLs

BAD_URLS = ["htp://x", "api.example.com", "localhost:8000", "ftp://x", "file:///etc/passwd", "javascript:alert(1)",
            "http://", "https://:443", "http:///path", "http://exa mple.com", "http://a\tb", "http://a\nb",
            "http://a\r\nHost: evil", "http://\x00a", "https://ex\u200bample.com", "http://a\\b", "http://a..b",
            "http://h:0", "http://h:99999", "http://h:port", "http://x?q=1", "http://x#f", "http://x/päth",
            "http://user:pw-SECRET@host", "http://:pw-SECRET@host", "https://" + "a" * 3000 + ".com", "   "]


def _bilingual(exc: ConfigError) -> None:
    assert exc.en and exc.zh and any("\u4e00" <= ch <= "\u9fff" for ch in exc.zh), exc


@pytest.mark.parametrize("url", BAD_URLS)
def test_check_base_url_refuses(url):
    with pytest.raises(ConfigError) as info:
        config.check_base_url(url)
    _bilingual(info.value)
    assert "https://" in info.value.en and "pw-SECRET" not in str(info.value)  # what to do; no password echoed


def test_check_base_url_normalizes():
    assert config.check_base_url(" HTTPS://API.Example.COM:443/v1/ ") == "https://api.example.com/v1"
    assert config.check_base_url("http://127.0.0.1:8765") == "http://127.0.0.1:8765"
    assert config.check_base_url("http://[::1]:80/") == "http://[::1]"
    assert config.check_base_url("https://例子.测试") == "https://xn--fsqu00a.xn--0zwm56d"


@pytest.mark.parametrize("url", ["htp://x", "api.example.com", "http://user:pw@host", "http://a b"])
def test_bad_base_url_is_refused_everywhere(tmp_path, url):
    path = tmp_path / "c.json"
    config.save({"concurrency": 2}, path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="Nothing was saved"):
        config.save({"hdredraw_base_url": url}, path)
    assert path.read_bytes() == before
    # from the environment or the file, at load time: an error that says nothing was sent
    with pytest.raises(ConfigError, match="HDREDRAW_BASE_URL.*Nothing was sent"):
        config.load({"HDREDRAW_BASE_URL": url}, path)
    path.write_text(json.dumps({"hidream_base_url": url}))
    with pytest.raises(ConfigError, match=f"{path}.*Nothing was sent") as info:
        config.load({}, path)
    _bilingual(info.value)


def test_cli_config_set_refuses_a_bad_base_url(tmp_path):
    env = {"HDREDRAW_CONFIG": str(tmp_path / "c.json")}
    out = run_cli(["config", "set", "hdredraw_base_url", "htp://hd.example"], env=env)
    assert out.returncode == 2 and "https://" in out.stderr and not (tmp_path / "c.json").exists()
    out = run_cli(["config", "set", "hidream_token", "tok\u00e9n-123456"], env=env)
    assert out.returncode == 2 and "ASCII" in out.stderr and not (tmp_path / "c.json").exists()


def test_a_bad_base_url_sends_nothing(emu, tmp_path):
    """The CLI, with the emulator's address carrying a password: refused before any request."""
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    url = emu.base_url.replace("http://", "http://user:pw@")
    out = run_cli(["run", "face_enhance", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")],
                  env={"HDREDRAW_BASE_URL": url, "HDREDRAW_USER_KEY": emu.user_key,
                       "HDREDRAW_CONFIG": str(tmp_path / "c.json")})
    assert out.returncode == 2 and "Nothing was sent" in out.stderr and "pw@" not in out.stderr
    assert emu.requests == []


# ------------------------------------------------------------------ keys and tokens

BAD_SECRETS = ["key\nX-Evil: 1", "key\r\nmore-123", "ke\x00y-123456", "key with space", "key\u2028line", "k\u200bey-123456",
               "k" * 5_000_000]


@pytest.mark.parametrize("name", ["hdredraw_user_key", "hidream_token"])
@pytest.mark.parametrize("secret", BAD_SECRETS, ids=lambda s: repr(s[:12]))
def test_unsafe_keys_are_refused_at_save_and_load(tmp_path, name, secret):
    path = tmp_path / "c.json"
    with pytest.raises(ConfigError) as info:
        config.save({name: secret}, path)
    _bilingual(info.value)
    assert not path.exists() and secret not in str(info.value)
    env_name = config._BY_NAME[name].env
    with pytest.raises(ConfigError, match=f"{env_name}.*Nothing was sent"):
        config.load({env_name: secret}, path)
    path.write_text(json.dumps({name: secret}))
    with pytest.raises(ConfigError, match="Nothing was sent"):
        config.load({}, path)


@pytest.mark.parametrize("token", ["tökén-123456", "令牌-123456789"])
def test_token_must_fit_an_authorization_header(tmp_path, token):
    with pytest.raises(ConfigError, match="Authorization") as info:
        config.save({"hidream_token": token}, tmp_path / "c.json")
    assert token not in str(info.value)
    with pytest.raises(ConfigError, match="HIDREAM_API_TOKEN"):
        config.load({"HIDREAM_API_TOKEN": token}, tmp_path / "none.json")


def test_keys_are_stripped_and_a_number_is_not_a_key(tmp_path):
    path = tmp_path / "c.json"
    config.save({"hdredraw_user_key": "  abc-1234-key \n"}, path)
    assert json.loads(path.read_text())["hdredraw_user_key"] == "abc-1234-key"
    with pytest.raises(ConfigError, match="must be text"):
        config.save({"hdredraw_user_key": 12345678}, path)


# ------------------------------------------------------------------ numbers, file shape, sizes

@pytest.mark.parametrize("env", [{"HDREDRAW_TIMEOUT": "nan"}, {"HDREDRAW_TIMEOUT": "inf"}, {"HDREDRAW_TIMEOUT": "-inf"},
                                 {"HDREDRAW_TIMEOUT": "1e999"}, {"HDREDRAW_TIMEOUT": "-5"}, {"HDREDRAW_TIMEOUT": "0"},
                                 {"HDREDRAW_TIMEOUT": "1e9"}, {"HDREDRAW_CONCURRENCY": "1000000000"},
                                 {"HDREDRAW_CONCURRENCY": "2.5"}, {"HDREDRAW_CONNECT_TIMEOUT": "0.001"},
                                 {"HDREDRAW_MAX_RESULT_MB": "99999999"}, {"HDREDRAW_CACHE_MB": "-1"},
                                 {"HDREDRAW_MAX_NEW_TASKS": "10" * 40}])
def test_numbers_out_of_range_are_refused_from_the_environment(env):
    with pytest.raises(ConfigError, match="Nothing was sent") as info:
        config.load(env)
    _bilingual(info.value)
    assert " to " in info.value.en  # the range is named


@pytest.mark.parametrize("stored", [{"job_timeout": True}, {"concurrency": False}, {"concurrency": 10**9},
                                    {"concurrency": 2.5}, {"job_timeout": -1}, {"max_new_tasks": 10**400},
                                    {"read_timeout": [1]}, {"cache_mb": {"a": 1}}, {"job_timeout": 1e309}])
def test_numbers_out_of_range_are_refused_from_file_and_save(tmp_path, stored):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(stored))
    with pytest.raises(ConfigError, match=str(path)):
        config.load({}, path)
    path.unlink()
    with pytest.raises(ConfigError, match="Nothing was saved"):
        config.save(stored, path)
    assert not path.exists()


def test_numbers_in_range_are_accepted(tmp_path):
    path = tmp_path / "c.json"
    config.save({"concurrency": "8", "job_timeout": 60, "read_timeout": "0.4", "max_new_tasks": 300.0}, path)
    s = config.load({}, path)
    assert (s.concurrency, s.job_timeout, s.read_timeout, s.max_new_tasks) == (8, 60.0, 0.4, 300)
    assert isinstance(s.concurrency, int) and isinstance(s.max_new_tasks, int)


@pytest.mark.parametrize("content", ["[1, 2]", '"hdredraw_user_key"', "42", "null", "true",
                                     '{"key_origins": ["x"]}'])
def test_a_config_file_that_is_not_an_object_is_an_error(tmp_path, content):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=str(path)) as info:
        config.load({}, path)
    _bilingual(info.value)
    with pytest.raises(ConfigError, match=str(path)):
        config.save({"concurrency": 2}, path)
    assert path.read_text() == content


def test_huge_values_and_unknown_keys_are_refused(tmp_path):
    path = tmp_path / "c.json"
    for update in ({"hdredraw_base_url": "https://x.example/" + "a" * 5_000_000},
                   {"hdredraw_user_key": "k" * 5_000_000}, {"concurrency": "1" * 5_000_000},
                   {"hdredraw_url": "https://x.example"}, {"key_origins": {"hdredraw_user_key": "https://x"}}):
        with pytest.raises(ConfigError) as info:
            config.save(update, path)
        assert len(str(info.value)) < 2000
    assert not path.exists()


# ------------------------------------------------------------------ private folders

@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_folders_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "a" / "b" / "config.json"
        config.save({"hdredraw_user_key": "k-0000-secret"}, path)
        for folder in (tmp_path / "a", tmp_path / "a" / "b"):
            assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        made = config.private_dir(tmp_path / "data" / "x")
    finally:
        os.umask(old)
    assert made == tmp_path / "data" / "x"
    for folder in (tmp_path / "data", made):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_private_dir_repairs_a_writable_folder_and_survives_a_strict_umask(tmp_path):
    shared = tmp_path / "old"
    shared.mkdir()
    os.chmod(shared, 0o777)  # as an older version left it under umask 000
    assert config.private_dir(shared) == shared
    assert stat.S_IMODE(os.stat(shared).st_mode) & 0o022 == 0
    old = os.umask(0o277)
    try:
        config.private_dir(tmp_path / "strict" / "inner")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "strict" / "inner").st_mode) == 0o700
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError):
        config.private_dir(tmp_path / "file")


# ------------------------------------------------------------------ keys bound to the origin they were entered for

def _stale(settings, secret="hdredraw_user_key") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        (settings.require_hdredraw if secret == "hdredraw_user_key" else settings.require_hidream)()
    return info.value


def test_a_key_is_bound_to_the_base_url_it_was_entered_for(tmp_path):
    path = tmp_path / "c.json"
    config.save({"hdredraw_base_url": "https://a.example/v1", "hdredraw_user_key": "key-a-12345678"}, path, env={})
    assert json.loads(path.read_text())["key_origins"] == {"hdredraw_user_key": "https://a.example"}
    assert config.load({}, path).require_hdredraw() == ("https://a.example/v1", "key-a-12345678")
    config.save({"hdredraw_base_url": "https://A.example:443/v2/"}, path, env={})  # same origin, other path
    assert config.load({}, path).require_hdredraw()[0] == "https://a.example/v2"

    for change in ({"hdredraw_base_url": "https://b.example"}, {"hdredraw_base_url": "http://a.example"},
                   {"hdredraw_base_url": "https://a.example:8443"}):
        config.save(change, path, env={})
        error = _stale(config.load({}, path))
        _bilingual(error)
        now = config.check_base_url(change["hdredraw_base_url"])
        assert "https://a.example" in error.en and now in error.en and "nothing was sent" in error.en
        assert "https://a.example" in error.zh and now in error.zh and "key-a" not in str(error)
        shown = config.status(config.load({}, path))["hdredraw_user_key"]
        assert shown["stale"] is True and shown["origin"] == "https://a.example" and now in shown["error"]
        assert "key-a-1234" not in json.dumps(shown)

    config.save({"hdredraw_base_url": "https://a.example"}, path, env={})  # back: usable again
    assert config.load({}, path).require_hdredraw()[1] == "key-a-12345678"
    config.save({"hdredraw_base_url": "https://b.example"}, path, env={})
    config.save({"hdredraw_user_key": "key-b-12345678"}, path, env={})  # entered again: bound to b
    assert config.load({}, path).require_hdredraw() == ("https://b.example", "key-b-12345678")
    assert config.status(config.load({}, path))["hdredraw_user_key"]["stale"] is False


def test_the_environment_can_move_the_base_url_away_from_a_stored_key(tmp_path):
    path = tmp_path / "c.json"
    config.save({"hdredraw_base_url": "https://a.example", "hdredraw_user_key": "key-a-12345678",
                 "hidream_token": "token-12345678"}, path, env={})
    assert json.loads(path.read_text())["key_origins"]["hidream_token"] == config.HIDREAM_DEFAULT_URL
    assert "https://b.example" in _stale(config.load({"HDREDRAW_BASE_URL": "https://b.example"}, path)).en
    assert "https://h.example" in _stale(config.load({"HIDREAM_BASE_URL": "https://h.example"}, path),
                                         "hidream_token").en
    # a key from the environment is meant for the base URL in effect
    s = config.load({"HDREDRAW_BASE_URL": "https://b.example", "HDREDRAW_USER_KEY": "env-key-1234"}, path)
    assert s.require_hdredraw() == ("https://b.example", "env-key-1234")
    assert config.status(s)["hdredraw_user_key"]["origin"] == "https://b.example"


def test_a_key_saved_while_the_environment_sets_the_base_url_is_bound_to_it(tmp_path):
    path = tmp_path / "c.json"
    env = {"HDREDRAW_BASE_URL": "https://env.example"}
    config.save({"hdredraw_base_url": "https://file.example", "hdredraw_user_key": "key-12345678"}, path, env=env)
    assert config.load(env, path).require_hdredraw()[0] == "https://env.example"
    assert "https://env.example" in _stale(config.load({}, path)).en


def test_a_key_entered_before_any_base_url_is_bound_when_one_is_set(tmp_path):
    path = tmp_path / "c.json"
    config.save({"hdredraw_user_key": "key-12345678"}, path, env={})
    assert "key_origins" not in json.loads(path.read_text())
    config.save({"hdredraw_base_url": "https://a.example"}, path, env={})
    assert json.loads(path.read_text())["key_origins"] == {"hdredraw_user_key": "https://a.example"}
    config.save({"hdredraw_base_url": "https://b.example"}, path, env={})
    assert "https://a.example" in _stale(config.load({}, path)).en
    config.save({"hdredraw_user_key": ""}, path, env={})  # removing the key removes its binding
    assert "key_origins" not in json.loads(path.read_text())


def test_an_old_config_file_is_bound_on_first_load(tmp_path):
    """Migration: a file written before keys were bound gets the origin of the base URL in effect then."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"hdredraw_base_url": "https://a.example", "hdredraw_user_key": "key-12345678",
                                "hidream_token": "token-12345678"}))
    assert config.load({}, path).require_hdredraw()[1] == "key-12345678"
    assert json.loads(path.read_text())["key_origins"] == {"hdredraw_user_key": "https://a.example",
                                                          "hidream_token": config.HIDREAM_DEFAULT_URL}
    assert "https://a.example" in _stale(config.load({"HDREDRAW_BASE_URL": "https://b.example"}, path)).en
    assert "https://b.example" in _stale(config.load({"HDREDRAW_BASE_URL": "https://b.example"}, path)).en


def test_a_moved_base_url_sends_nothing(emu, tmp_path):
    """End to end through the CLI: the key was entered for 127.0.0.1:PORT; the same emulator reached as
    localhost:PORT is another origin, so the run stops before any request."""
    path = tmp_path / "c.json"
    env = {"HDREDRAW_CONFIG": str(path)}
    assert run_cli(["config", "set", "hdredraw_base_url", emu.base_url], env).returncode == 0
    assert run_cli(["config", "set", "hdredraw_user_key", emu.user_key], env).returncode == 0
    moved = run_cli(["config", "set", "hdredraw_base_url", emu.base_url.replace("127.0.0.1", "localhost")], env)
    assert moved.returncode == 0 and "entered for http://127.0.0.1:" in moved.stderr  # said at once
    from hdredraw.engine import codecs
    from hdredraw.engine.demo import sample_garment

    (tmp_path / "a.png").write_bytes(codecs.encode_png(sample_garment(32)))
    out = run_cli(["run", "face_enhance", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")], env)
    assert out.returncode == 2 and "entered for http://127.0.0.1:" in out.stderr, out.stderr
    assert "nothing was sent" in out.stderr and emu.user_key not in out.stderr
    assert emu.requests == []
    shown = json.loads(run_cli(["config"], env).stdout)["hdredraw_user_key"]
    assert shown["stale"] is True and emu.user_key not in json.dumps(shown)


def test_every_setting_is_declared_once_with_its_labels():
    """Name, type, default, range, environment variable, help and labels: one declaration per setting; the
    resolved-settings type is made from them."""
    from dataclasses import fields as dc_fields

    names = [f.name for f in dc_fields(config.Settings)]
    assert names[:len(config.SETTINGS)] == [s.name for s in config.SETTINGS]
    for s in config.SETTINGS:
        assert s.label_en and s.label_zh and s.help_en and s.help_zh, s.name
        assert getattr(config.Settings(), s.name) == s.default
