"""Credentials and settings, resolved outside any workflow.

Order, first wins for each setting:
1. environment variables (`HDREDRAW_BASE_URL`, `HDREDRAW_USER_KEY`, `HIDREAM_API_TOKEN`, `HIDREAM_BASE_URL`,
   `HDREDRAW_TIMEOUT`, `HDREDRAW_CONNECT_TIMEOUT`, `HDREDRAW_READ_TIMEOUT`, `HDREDRAW_CONCURRENCY`,
   `HDREDRAW_MAX_RESULT_MB`, `HDREDRAW_MAX_NEW_TASKS`, `HDREDRAW_CACHE_MB`, `HDREDRAW_JOURNAL_URL`,
   `HDREDRAW_LEASE_SECONDS`, `HDREDRAW_ALLOWED_HOSTS`);
2. the pack's config file `config.json` (in ComfyUI's user directory under `hdredraw/` when running inside
   ComfyUI, else the user's config directory; `HDREDRAW_CONFIG` names another file), written owner-only;
3. built-in defaults (HiDream's public address; no default for the HD Redraw base URL, which each customer
   receives privately).

Keys never enter a workflow, a node input or a log line: they are registered with `redact` as soon as they
are read.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import field, fields, make_dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .private import private_dir as private_dir  # public: the journal uses it for the data folder
from .private import write_private_json
from .redact import register_secret
from .setting_table import HIDREAM_DEFAULT_URL as HIDREAM_DEFAULT_URL  # public: the tests and docs name it
from .setting_table import SETTINGS, Setting
from .validate import check_base_url, check_number, check_secret, origin_of

_BY_NAME = {s.name: s for s in SETTINGS}
_default_dir: Path | None = None
_lock = threading.Lock()


def set_default_dir(path: str | os.PathLike[str]) -> None:
    """Where the config file lives when HDREDRAW_CONFIG is not set (the node layer points this into
    ComfyUI's user directory)."""
    global _default_dir
    _default_dir = Path(path)


def user_config_dir() -> Path:
    """The platform's per-user config folder for the pack."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "hdredraw"


def data_dir() -> Path:
    """Where the task journal and kept results live (HDREDRAW_DATA_DIR, else beside the config)."""
    explicit = os.environ.get("HDREDRAW_DATA_DIR")
    if explicit:
        return Path(explicit)
    if _default_dir is not None:
        return _default_dir
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "hdredraw"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "hdredraw"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "hdredraw"


def config_path() -> Path:
    explicit = os.environ.get("HDREDRAW_CONFIG")
    if explicit:
        return Path(explicit)
    return (_default_dir or user_config_dir()) / "config.json"


# The resolved-settings type gets one field per declared setting (name, type, default), so a setting is
# declared once, in SETTINGS, and nowhere else.
_ResolvedFields = make_dataclass("_ResolvedFields", [
    *((s.name, s.cast, field(default=s.default)) for s in SETTINGS),
    ("sources", dict, field(default_factory=dict)),
    ("key_origins", dict, field(default_factory=dict)),
])


class Settings(_ResolvedFields):
    """Resolved settings plus where each came from ('env', 'file' or 'default').

    `key_origins` maps a secret taken from the config file to the origin (scheme://host[:port]) of the base
    URL in effect when it was entered; the require_* methods refuse to hand it out for any other origin.
    Secrets from the environment (and Settings built directly, as tests and the demo do) are not bound.
    """

    def __repr__(self) -> str:  # never print secrets
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("sources", "key_origins")}
        for s in SETTINGS:
            if s.secret:
                shown[s.name] = "set" if shown[s.name] else "unset"
        return f"Settings({shown})"

    def base_url(self, secret: str) -> str:
        """The base URL a secret would be sent to now ("" for a secret bound to no service, e.g. the journal's)."""
        base = _BY_NAME[secret].base
        if not base:
            return ""
        return getattr(self, base) or _BY_NAME[base].default

    def key_problem(self, secret: str) -> ConfigError | None:
        """Why a stored secret must not be used with the current base URL (it was entered for another
        origin), or None."""
        bound = self.key_origins.get(secret)
        if not bound or not getattr(self, secret) or not self.base_url(secret):
            return None
        now = origin_of(self.base_url(secret))
        if now == bound:
            return None
        what_en, what_zh, how = _SECRET_WORDS[secret]
        return ConfigError(
            f"The {what_en} was entered for {bound}; the base URL is now {now}. A key is only sent to the address "
            f"it was entered for, so nothing was sent. If you trust {now}, enter the key again (ComfyUI "
            f"Settings → HD Redraw, or `hdredraw config set {secret} {how}`); otherwise change the base URL back.",
            f"{what_zh}是为 {bound} 填写的;接口地址现在是 {now}。密钥只会发送到填写时的地址,因此没有发送任何请求。"
            f"如果信任 {now},请重新填写密钥(ComfyUI 设置 → HD Redraw,或运行 `hdredraw config set {secret} {how}`);"
            "否则请把接口地址改回去。")

    def require_hdredraw(self) -> tuple[str, str]:
        """Base URL and user key, or a ConfigError that says where to set them (before anything is sent)."""
        if not self.hdredraw_base_url:
            raise ConfigError(
                "The HD Redraw base URL is not set. The service gives each customer its address privately: "
                "set HDREDRAW_BASE_URL, or enter it in ComfyUI Settings → HD Redraw, or run "
                "`hdredraw config set hdredraw_base_url URL`.",
                "未设置 HD Redraw 接口地址(由客服单独提供)。请设置环境变量 HDREDRAW_BASE_URL,或在 ComfyUI 设置 → "
                "HD Redraw 中填写,或运行 `hdredraw config set hdredraw_base_url 地址`。")
        if not self.hdredraw_user_key:
            raise ConfigError(
                "The HD Redraw user key is not set: set HDREDRAW_USER_KEY, or enter it in ComfyUI Settings → "
                "HD Redraw, or run `hdredraw config set hdredraw_user_key KEY`.",
                "未设置 HD Redraw 用户密钥:请设置环境变量 HDREDRAW_USER_KEY,或在 ComfyUI 设置 → HD Redraw 中填写,"
                "或运行 `hdredraw config set hdredraw_user_key 密钥`。")
        problem = self.key_problem("hdredraw_user_key")
        if problem:
            raise problem
        return self.hdredraw_base_url.rstrip("/"), self.hdredraw_user_key

    def require_hidream(self) -> tuple[str, str]:
        """HiDream base URL and token, or a ConfigError (before anything is sent)."""
        if not self.hidream_token:
            raise ConfigError(
                "The HiDream API token is not set: set HIDREAM_API_TOKEN, or enter it in ComfyUI Settings → "
                "HD Redraw, or run `hdredraw config set hidream_token TOKEN`.",
                "未设置 HiDream API token:请设置环境变量 HIDREAM_API_TOKEN,或在 ComfyUI 设置 → HD Redraw 中填写,"
                "或运行 `hdredraw config set hidream_token TOKEN`。")
        problem = self.key_problem("hidream_token")
        if problem:
            raise problem
        return self.base_url("hidream_token").rstrip("/"), self.hidream_token


_SECRET_WORDS = {
    "hdredraw_user_key": ("HD Redraw user key", "HD Redraw 用户密钥", "KEY"),
    "hidream_token": ("HiDream API token", "HiDream API token", "TOKEN"),
    "journal_url": ("journal database URL", "任务记录数据库地址", "URL"),
}
ORIGINS_KEY = "key_origins"  # in the config file: {secret name: origin it was entered for}


def read_file(path: Path | None = None) -> dict[str, Any]:
    """The config file's contents ({} when absent); a corrupt file is an error, not silently ignored."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc}. Nothing was sent.",
                          f"无法读取配置文件 {path}:{exc}。没有发送任何请求。") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ConfigError(
            f"The config file {path} is not valid JSON. Fix or delete it. Nothing was sent.",
            f"配置文件 {path} 不是有效的 JSON,请修正或删除。没有发送任何请求。") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"The config file {path} holds a JSON {type(data).__name__}, not an object of settings "
            '({"name": value, ...}). Fix or delete it. Nothing was sent.',
            f"配置文件 {path} 的内容是 JSON {type(data).__name__},而不是设置对象({{\"名称\": 值, ...}})。"
            "请修正或删除。没有发送任何请求。")
    origins = data.get(ORIGINS_KEY, {})
    if not isinstance(origins, dict) or not all(isinstance(v, str) for v in origins.values()):
        raise ConfigError(
            f'"{ORIGINS_KEY}" in the config file {path} must map key names to addresses. Delete that entry and '
            "enter the keys again. Nothing was sent.",
            f"配置文件 {path} 中的 \"{ORIGINS_KEY}\" 必须是密钥名到地址的映射。请删除该项并重新填写密钥。"
            "没有发送任何请求。")
    return data


def check_value(setting: Setting, raw: Any) -> Any:
    """`raw` checked and normalized for `setting` (see engine/validate.py), or a ConfigError."""
    if setting.secret:
        what_en, what_zh, _ = _SECRET_WORDS[setting.name]
        return check_secret(raw, header=setting.name == "hidream_token", what_en=what_en, what_zh=what_zh)
    if setting.check is not None:
        return setting.check(raw)
    if setting.cast is str:
        return check_base_url(raw)
    return check_number(raw, kind=setting.cast, low=setting.low, high=setting.high, what=setting.name)


def _checked(setting: Setting, raw: Any, source_en: str, source_zh: str, outcome_en: str, outcome_zh: str) -> Any:
    try:
        return check_value(setting, raw)
    except ConfigError as exc:
        raise ConfigError(f"{setting.name} ({source_en}): {exc.en} {outcome_en}",
                          f"{setting.name}({source_zh}):{exc.zh}{outcome_zh}") from None


_NOT_SENT = ("Nothing was sent.", "没有发送任何请求。")
_NOT_SAVED = ("Nothing was saved.", "没有保存任何内容。")


def load(env: Mapping[str, str] | None = None, path: Path | None = None) -> Settings:
    """Resolve every setting: environment, then config file, then default; every value is checked.

    A key stored without a recorded origin (a config file from before keys were bound) is bound here, once,
    to the base URL in effect, and the file is updated (best effort: a read-only file keeps working).
    """
    env = os.environ if env is None else env
    path = path or config_path()
    stored = read_file(path)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in SETTINGS:
        raw_env = env.get(s.env, "")
        if str(raw_env).strip():
            values[s.name] = _checked(s, str(raw_env), f"environment variable {s.env}", f"环境变量 {s.env}",
                                      *_NOT_SENT)
            sources[s.name] = "env"
        elif stored.get(s.name) not in (None, ""):
            values[s.name] = _checked(s, stored[s.name], f"config file {path}", f"配置文件 {path}", *_NOT_SENT)
            sources[s.name] = "file"
        else:
            values[s.name], sources[s.name] = s.default, "default"
        if s.secret:
            register_secret(values[s.name])
    origins = dict(stored.get(ORIGINS_KEY, {}))
    unbound = {s.name: origin_of(values[s.base]) for s in SETTINGS
               if s.secret and s.base and stored.get(s.name) and s.name not in origins and values[s.base]}
    if unbound:
        origins.update(unbound)
        _bind_unbound(path, {name: (stored[name], origin) for name, origin in unbound.items()})
    bound = {name: origin for name, origin in origins.items() if sources.get(name) == "file"}
    return Settings(**values, sources=sources, key_origins=bound)


def _bind_unbound(path: Path, bindings: Mapping[str, tuple[Any, str]]) -> None:
    """Record origins for keys that had none (migration), unless the file changed meanwhile."""
    try:
        with _lock:
            data = read_file(path)
            origins = data.setdefault(ORIGINS_KEY, {})
            for name, (value, origin) in bindings.items():
                if data.get(name) == value and name not in origins:
                    origins[name] = origin
            write_private_json(path, data)
    except (OSError, ConfigError):
        pass


def _effective_base(setting: Setting, data: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """The base URL a secret would be sent to with `data` as the config file, or None if unknown/invalid."""
    base = _BY_NAME[setting.base]
    raw = str(env.get(base.env, "")).strip() or data.get(base.name) or base.default
    try:
        return check_base_url(raw) if raw else None
    except ConfigError:
        return None


def save(updates: Mapping[str, Any], path: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Merge `updates` into the config file, atomically and readable by the owner only.

    A value of None or "" removes the setting.  Every value is checked first (nothing is written if one is
    bad).  A key or token saved now is bound to the origin of the base URL in effect (environment first,
    then this file): changing the base URL later makes it unusable until it is entered again.
    """
    path = path or config_path()
    env = os.environ if env is None else env
    unknown = sorted(set(updates) - set(_BY_NAME))
    if unknown:
        raise ConfigError(f"Unknown setting(s): {', '.join(map(str, unknown))[:200]}. Known settings: "
                          f"{', '.join(_BY_NAME)}. {_NOT_SAVED[0]}",
                          f"未知的设置项:{', '.join(map(str, unknown))[:200]}。可用的设置项:{', '.join(_BY_NAME)}。"
                          f"{_NOT_SAVED[1]}")
    cleaned = {name: None if value is None or value == "" else
               _checked(_BY_NAME[name], value, "new value", "新值", *_NOT_SAVED) for name, value in updates.items()}
    with _lock:
        data = read_file(path)
        origins = dict(data.get(ORIGINS_KEY, {}))
        for name, value in cleaned.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
                if _BY_NAME[name].secret:
                    register_secret(value)
        for s in SETTINGS:
            if not s.secret:
                continue
            if not data.get(s.name):
                origins.pop(s.name, None)
            elif cleaned.get(s.name) is not None or s.name not in origins:
                base = _effective_base(s, data, env)
                if base:
                    origins[s.name] = origin_of(base)
                else:  # no usable base URL yet: bound when one is set
                    origins.pop(s.name, None)
        data.pop(ORIGINS_KEY, None)
        if origins:
            data[ORIGINS_KEY] = origins
        write_private_json(path, data)
    return path


def status(settings: Settings | None = None) -> dict[str, Any]:
    """What a UI may show: for secrets only whether set, a masked hint, the source, the origin the key is
    bound to and, when the base URL has moved away from it, `stale` with the bilingual reason."""
    from .redact import mask

    settings = settings or load()
    out: dict[str, Any] = {}
    for s in SETTINGS:
        value = getattr(settings, s.name)
        if s.secret:
            entry: dict[str, Any] = {"set": bool(value), "hint": mask(value), "source": settings.sources.get(s.name),
                                     "origin": None, "stale": False}
            base = settings.base_url(s.name)
            if value and base:
                entry["origin"] = settings.key_origins.get(s.name) or origin_of(base)
            problem = settings.key_problem(s.name)
            if problem:
                entry.update(stale=True, error=problem.en, error_zh=problem.zh)
            out[s.name] = entry
        else:
            out[s.name] = {"value": value, "source": settings.sources.get(s.name)}
    return out
