"""Every setting of the pack, declared once: name, environment variable, type, default, range, help and
labels in both languages.  The resolved `config.Settings` type, the settings UI, the locale files, the docs
and the tests' clean environment are all derived from this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .validate import check_host_names

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
    label_en: str = ""  # the setting's name in the settings dialog and the locales
    label_zh: str = ""
    low: float | None = None  # numeric settings: the accepted range
    high: float | None = None
    base: str = ""  # secrets: the base-URL setting whose origin the key is bound to
    check: Callable[[Any], Any] | None = None  # text settings that are not a base URL: their own check


SETTINGS: tuple[Setting, ...] = (
    Setting("hdredraw_base_url", "HDREDRAW_BASE_URL", str, "",
            help_en="HD Redraw service address (given to you privately by the service).",
            help_zh="HD Redraw 接口地址(请联系客服获取)。",
            label_en="HD Redraw base URL", label_zh="HD Redraw 接口地址"),
    Setting("hdredraw_user_key", "HDREDRAW_USER_KEY", str, "", secret=True, base="hdredraw_base_url",
            help_en="HD Redraw user key.", help_zh="HD Redraw 用户密钥 user_key。",
            label_en="HD Redraw user key", label_zh="HD Redraw 用户密钥"),
    Setting("hidream_token", "HIDREAM_API_TOKEN", str, "", secret=True, base="hidream_base_url",
            help_en="HiDream API token (Bearer).", help_zh="HiDream API token(Bearer)。",
            label_en="HiDream API token", label_zh="HiDream API 令牌"),
    Setting("hidream_base_url", "HIDREAM_BASE_URL", str, HIDREAM_DEFAULT_URL,
            help_en="HiDream API address.", help_zh="HiDream 接口地址。",
            label_en="HiDream base URL", label_zh="HiDream 接口地址"),
    Setting("job_timeout", "HDREDRAW_TIMEOUT", float, 1800.0, low=1, high=86400,
            help_en="Overall deadline for one task, in seconds (submit to downloaded result).",
            help_zh="单个任务的总时限(秒,从提交到下载完成)。",
            label_en="Task deadline (s)", label_zh="任务总时限(秒)"),
    Setting("connect_timeout", "HDREDRAW_CONNECT_TIMEOUT", float, 10.0, low=0.1, high=600,
            help_en="Seconds to wait for a connection.", help_zh="建立连接的超时(秒)。",
            label_en="Connect timeout (s)", label_zh="连接超时(秒)"),
    Setting("read_timeout", "HDREDRAW_READ_TIMEOUT", float, 120.0, low=0.1, high=3600,
            help_en="Seconds to wait for the service to answer a request.", help_zh="等待服务响应的超时(秒)。",
            label_en="Read timeout (s)", label_zh="读取超时(秒)"),
    Setting("concurrency", "HDREDRAW_CONCURRENCY", int, 8, low=1, high=64,
            help_en="Most tasks running at once on each service, across all nodes (halved automatically while "
                    "the service says it is busy).",
            help_zh="每个服务同时运行的任务上限(所有节点合计;服务繁忙时自动减半)。",
            label_en="Tasks at once per service", label_zh="每个服务同时运行的任务数"),
    Setting("max_result_mb", "HDREDRAW_MAX_RESULT_MB", int, 256, low=1, high=4096,
            help_en="Largest result file the pack will download, in MB.", help_zh="允许下载的单个结果文件上限(MB)。",
            label_en="Largest result (MB)", label_zh="结果文件上限(MB)"),
    Setting("max_new_tasks", "HDREDRAW_MAX_NEW_TASKS", int, 16, low=1, high=1000,
            help_en="Spend guard: most new paid tasks one queued prompt (or CLI command) may start.",
            help_zh="消费保护:每个排队的提示词(或每条命令)最多新建的付费任务数。",
            label_en="Spend guard: new tasks per prompt", label_zh="消费保护:每个提示词最多新任务数"),
    Setting("cache_mb", "HDREDRAW_CACHE_MB", int, 2048, low=1, high=1048576,
            help_en="Disk space for kept results, in MB (oldest evicted; evicted results are re-fetched free).",
            help_zh="本地保存结果的磁盘上限(MB),超出时删除最旧的(可免费重新获取)。",
            label_en="Kept results (MB)", label_zh="结果缓存上限(MB)"),
    Setting("journal_url", "HDREDRAW_JOURNAL_URL", str, "", secret=True,
            help_en="Task journal shared by several machines: the postgresql:// address of one database (user, "
                    "password, host and database name; empty: a SQLite file on this machine). Every worker of one "
                    "account should point at the same database.",
            help_zh="多台机器共享的任务记录:一个数据库的 postgresql:// 地址(含用户、密码、主机和数据库名;留空:本机 SQLite 文件)。"
                    "同一账户的所有工作机应指向同一数据库。",
            label_en="Shared journal (PostgreSQL URL)", label_zh="共享任务记录(PostgreSQL 地址)"),
    Setting("lease_seconds", "HDREDRAW_LEASE_SECONDS", float, 30.0, low=2, high=3600,
            help_en="Seconds after which a stopped worker's claim on a request lapses, so another worker can resume "
                    "its task (never submitting it again). At least 2; use the same value on every worker.",
            help_zh="停止运行的工作机对某个请求的占用在多少秒后失效,以便其他工作机继续其任务(不会重新提交)。至少 2 秒;所有工作机应使用相同的值。",
            label_en="Lease of a stopped worker lapses after (s)", label_zh="停止的工作机占用失效时间(秒)"),
    Setting("allowed_hosts", "HDREDRAW_ALLOWED_HOSTS", str, "", check=check_host_names,
            help_en="Other names this ComfyUI is reached by, comma-separated (for example comfy.example.com behind "
                    "a reverse proxy). IP addresses, localhost and this computer's name always work; the pack's "
                    "settings page answers no other name, so a web page cannot use DNS rebinding to change "
                    "your settings.",
            help_zh="本 ComfyUI 的其他访问域名,用逗号分隔(例如反向代理后的 comfy.example.com)。IP 地址、localhost 和本机名始终可用;"
                    "插件的设置接口不响应其他域名,以防网页通过 DNS 重绑定修改您的设置。",
            label_en="Other addresses of this ComfyUI", label_zh="本 ComfyUI 的其他访问域名"),
)
