"""Credentials and settings, resolved outside any workflow.

Order, first wins for each setting:
1. environment variables (`HDREDRAW_BASE_URL`, `HDREDRAW_USER_KEY`, `HIDREAM_API_TOKEN`, `HIDREAM_BASE_URL`,
   `HDREDRAW_TIMEOUT`, `HDREDRAW_CONNECT_TIMEOUT`, `HDREDRAW_READ_TIMEOUT`, `HDREDRAW_CONCURRENCY`,
   `HDREDRAW_MAX_RESULT_MB`, `HDREDRAW_MAX_NEW_TASKS`, `HDREDRAW_CACHE_MB`, `HDREDRAW_JOURNAL_URL`,
   `HDREDRAW_LEASE_SECONDS`);
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
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .redact import register_secret

HIDREAM_DEFAULT_URL = "https://www.hidreamai.com"


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    cast: type
    default: Any
    secret: bool = False
    help_en: str = ""
    help_zh: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("hdredraw_base_url", "HDREDRAW_BASE_URL", str, "",
            help_en="HD Redraw service address (given to you privately by the service).",
            help_zh="HD Redraw 接口地址(请联系客服获取)。"),
    Setting("hdredraw_user_key", "HDREDRAW_USER_KEY", str, "", secret=True,
            help_en="HD Redraw user key.", help_zh="HD Redraw 用户密钥 user_key。"),
    Setting("hidream_token", "HIDREAM_API_TOKEN", str, "", secret=True,
            help_en="HiDream API token (Bearer).", help_zh="HiDream API token(Bearer)。"),
    Setting("hidream_base_url", "HIDREAM_BASE_URL", str, HIDREAM_DEFAULT_URL,
            help_en="HiDream API address.", help_zh="HiDream 接口地址。"),
    Setting("job_timeout", "HDREDRAW_TIMEOUT", float, 1800.0,
            help_en="Overall deadline for one task, in seconds (submit to downloaded result).",
            help_zh="单个任务的总时限(秒,从提交到下载完成)。"),
    Setting("connect_timeout", "HDREDRAW_CONNECT_TIMEOUT", float, 10.0,
            help_en="Seconds to wait for a connection.", help_zh="建立连接的超时(秒)。"),
    Setting("read_timeout", "HDREDRAW_READ_TIMEOUT", float, 120.0,
            help_en="Seconds to wait for the service to answer a request.", help_zh="等待服务响应的超时(秒)。"),
    Setting("concurrency", "HDREDRAW_CONCURRENCY", int, 4,
            help_en="How many images of a batch run at once.", help_zh="批量图片同时处理的数量。"),
    Setting("max_result_mb", "HDREDRAW_MAX_RESULT_MB", int, 256,
            help_en="Largest result file the pack will download, in MB.", help_zh="允许下载的单个结果文件上限(MB)。"),
    Setting("max_new_tasks", "HDREDRAW_MAX_NEW_TASKS", int, 16,
            help_en="Spend guard: most new paid tasks one node run (or CLI call) may start.",
            help_zh="消费保护:单次节点运行(或命令)最多新建的付费任务数。"),
    Setting("cache_mb", "HDREDRAW_CACHE_MB", int, 2048,
            help_en="Disk space for kept results, in MB (oldest evicted; evicted results are re-fetched free).",
            help_zh="本地保存结果的磁盘上限(MB),超出时删除最旧的(可免费重新获取)。"),
    Setting("journal_url", "HDREDRAW_JOURNAL_URL", str, "", secret=True,
            help_en="Task journal shared by several machines: a postgresql://user:password@host/db URL (empty: a "
                    "SQLite file on this machine). Every worker of one account should point at the same database.",
            help_zh="多台机器共享的任务记录:postgresql://用户:密码@主机/数据库 地址(留空:本机 SQLite 文件)。同一账户的所有工作机应指向同一数据库。"),
    Setting("lease_seconds", "HDREDRAW_LEASE_SECONDS", float, 30.0,
            help_en="Seconds after which a stopped worker's claim on a request lapses, so another worker can resume "
                    "its task (never submitting it again). At least 2; use the same value on every worker.",
            help_zh="停止运行的工作机对某个请求的占用在多少秒后失效,以便其他工作机继续其任务(不会重新提交)。至少 2 秒;所有工作机应使用相同的值。"),
)

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


@dataclass
class Settings:
    """Resolved settings plus where each came from ('env', 'file' or 'default')."""

    hdredraw_base_url: str = ""
    hdredraw_user_key: str = ""
    hidream_token: str = ""
    hidream_base_url: str = HIDREAM_DEFAULT_URL
    job_timeout: float = 1800.0
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    concurrency: int = 4
    max_result_mb: int = 256
    max_new_tasks: int = 16
    cache_mb: int = 2048
    journal_url: str = ""
    lease_seconds: float = 30.0
    sources: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print secrets
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sources"}
        for s in SETTINGS:
            if s.secret:
                shown[s.name] = "set" if shown[s.name] else "unset"
        return f"Settings({shown})"

    def require_hdredraw(self) -> tuple[str, str]:
        """Base URL and user key, or a ConfigError that says where to set them."""
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
        return self.hdredraw_base_url.rstrip("/"), self.hdredraw_user_key

    def require_hidream(self) -> tuple[str, str]:
        if not self.hidream_token:
            raise ConfigError(
                "The HiDream API token is not set: set HIDREAM_API_TOKEN, or enter it in ComfyUI Settings → "
                "HD Redraw, or run `hdredraw config set hidream_token TOKEN`.",
                "未设置 HiDream API token:请设置环境变量 HIDREAM_API_TOKEN,或在 ComfyUI 设置 → HD Redraw 中填写,"
                "或运行 `hdredraw config set hidream_token TOKEN`。")
        return (self.hidream_base_url or HIDREAM_DEFAULT_URL).rstrip("/"), self.hidream_token


def read_file(path: Path | None = None) -> dict[str, Any]:
    """The config file's contents ({} when absent); a corrupt file is an error, not silently ignored."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc}.",
                          f"无法读取配置文件 {path}:{exc}。") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ConfigError(
            f"The config file {path} is not valid JSON. Fix or delete it.",
            f"配置文件 {path} 不是有效的 JSON,请修正或删除。") from None
    return data if isinstance(data, dict) else {}


def _cast(setting: Setting, raw: Any, source: str) -> Any:
    try:
        value = setting.cast(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{setting.name} from {source} must be a {setting.cast.__name__} (got {raw!r}).",
            f"来自{source}的 {setting.name} 必须是 {setting.cast.__name__}(当前 {raw!r})。") from None
    if setting.cast in (int, float) and value <= 0:
        raise ConfigError(f"{setting.name} from {source} must be positive (got {raw!r}).",
                          f"来自{source}的 {setting.name} 必须大于 0(当前 {raw!r})。")
    return value


def load(env: Mapping[str, str] | None = None, path: Path | None = None) -> Settings:
    """Resolve every setting: environment, then config file, then default."""
    env = os.environ if env is None else env
    stored = read_file(path)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in SETTINGS:
        raw_env = env.get(s.env, "")
        if str(raw_env).strip():
            values[s.name], sources[s.name] = _cast(s, str(raw_env).strip(), s.env), "env"
        elif stored.get(s.name) not in (None, ""):
            values[s.name], sources[s.name] = _cast(s, stored[s.name], "config file"), "file"
        else:
            values[s.name], sources[s.name] = s.default, "default"
        if s.secret:
            register_secret(values[s.name])
    return Settings(**values, sources=sources)


def save(updates: Mapping[str, Any], path: Path | None = None) -> Path:
    """Merge `updates` into the config file, atomically and readable by the owner only.

    A value of None or "" removes the setting.
    """
    path = path or config_path()
    unknown = sorted(set(updates) - set(_BY_NAME))
    if unknown:
        raise ConfigError(f"Unknown setting(s): {', '.join(unknown)}.", f"未知的设置项:{', '.join(unknown)}。")
    with _lock:
        data = read_file(path)
        for name, value in updates.items():
            if value is None or value == "":
                data.pop(name, None)
            else:
                data[name] = _cast(_BY_NAME[name], value, "settings")
                if _BY_NAME[name].secret:
                    register_secret(str(value))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", dir=str(path.parent))
        try:
            os.chmod(tmp, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False, indent=2)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        os.chmod(path, 0o600)
    return path


def status(settings: Settings | None = None) -> dict[str, Any]:
    """What a UI may show: for secrets only whether set, a masked hint and the source."""
    from .redact import mask

    settings = settings or load()
    out: dict[str, Any] = {}
    for s in SETTINGS:
        value = getattr(settings, s.name)
        if s.secret:
            out[s.name] = {"set": bool(value), "hint": mask(value), "source": settings.sources.get(s.name)}
        else:
            out[s.name] = {"value": value, "source": settings.sources.get(s.name)}
    return out
