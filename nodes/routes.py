"""The pack's HTTP routes on ComfyUI's server, for the web extension.

Keys are write-only: POST /hdredraw/settings stores them in the pack's owner-only config file; no route
ever returns them (GET /hdredraw/status says only whether each is set, a masked hint, and its source).
GET /hdredraw/status also carries the prices learned from the journal and today's spend (engine/prices.py);
GET /hdredraw/tasks each recent task's charge; GET /hdredraw/strings the web extension's strings, read from
the locale files (so the JavaScript holds none of its own).

Only the pack's own front end may call these routes.  ComfyUI's origin check lets a missing or `null` Origin
through (a sandboxed iframe on any web site sends `Origin: null`), and a browser sends a `text/plain` POST
cross-site without asking first (no CORS preflight): without a defence, any page the user visits could point
`hdredraw_base_url` at its own host and collect the key on the next run.  So every route requires what no
page can send cross-site without a preflight (which ComfyUI never grants for these headers): the header
`X-HDRedraw-Client: 1` (sent by web/hdredraw.js), and for POST `Content-Type: application/json`; and it
refuses a present Origin that is `null` or names another host, and `Sec-Fetch-Site` other than same-origin.

A page can also become "same-origin" by DNS rebinding: its own name made to point at this machine, so the
browser sends the page's name as Host and Origin and every header it likes.  So the Host a request was sent
to must be a name this server is known by: an IP address, localhost, this computer's name, or one listed in
the `allowed_hosts` setting (a reverse proxy's public name).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..engine import config
from ..engine.errors import HDRedrawError

LOCALES = Path(__file__).resolve().parents[1] / "locales"


def status_payload() -> dict[str, Any]:
    """Everything the UI may show: settings (secrets masked), the last balance seen, where config lives."""
    from ..engine import progress

    payload: dict[str, Any] = {
        "schema": [{"name": s.name, "env": s.env, "secret": s.secret, "type": s.cast.__name__,
                    "default": s.default, "min": s.low, "max": s.high,
                    "label": {"en": s.label_en, "zh": s.label_zh},
                    "help": {"en": s.help_en, "zh": s.help_zh}} for s in config.SETTINGS],
        "balance": dict(progress.last_balance) or _balance_from_journal(),
        "config_path": str(config.config_path()),
        **_prices(),
    }
    try:
        payload["settings"] = config.status(config.load())
    except HDRedrawError as exc:  # a bad value or a corrupt file: say so, and still let the UI fix it
        payload.update(settings={}, error=exc.en, error_zh=exc.zh)
    return payload


def _balance_from_journal() -> dict[str, Any]:
    """After a restart nothing is in memory yet: the newest balance the journal saw."""
    from ..engine.journal import open_journal

    try:
        journal = open_journal(config.load())
        try:
            entries = journal.recent(50)
        finally:
            journal.close()
        for e in entries:
            if e.service == "hdredraw" and (e.remaining_count is not None or e.remaining_money is not None):
                return {"remaining_count": e.remaining_count, "remaining_money": e.remaining_money,
                        "at": e.finished_at or e.submitted_at or e.created_at}
    except Exception:  # the badge is optional; never break the status route
        return {}
    return {}


def _journal_rows(limit: int = 500) -> list[Any]:
    """The newest journal rows, or [] when there is no journal yet (the UI's extras never break a route)."""
    from ..engine.journal import Journal

    try:
        return Journal(config.data_dir()).recent(limit)
    except Exception:
        return []


def _prices() -> dict[str, Any]:
    """Learned prices per operation and today's spend (engine/prices.py), for the nodes and the sidebar."""
    from ..engine import prices

    try:
        return prices.summary(_journal_rows())
    except Exception:  # an estimate is optional; never break the status route
        return {"prices": {}, "spend_today": {"tasks": 0, "known": 0, "count": 0, "money": 0, "exact": False}}


_strings_cache: dict[str, Any] = {}


def strings_payload() -> dict[str, Any]:
    """The web extension's strings in both languages, from the committed locale files (`hdredraw` in main.json)."""
    if not _strings_cache:
        for lang in ("en", "zh"):
            try:
                main = json.loads((LOCALES / lang / "main.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                main = {}
            _strings_cache[lang] = main.get("hdredraw", {})
    return dict(_strings_cache)


def save_payload(body: Any) -> tuple[int, dict[str, Any]]:
    """Apply a settings update; returns (HTTP status, JSON body).  Values are never echoed back."""
    if not isinstance(body, dict):
        return 400, {"error": 'Expected a JSON object of settings ({"name": value, ...}); nothing was saved.',
                     "error_zh": "需要一个设置的 JSON 对象({\"名称\": 值, ...});未保存任何内容。"}
    try:
        config.save({str(k): v for k, v in body.items()})
    except HDRedrawError as exc:
        return 400, {"error": exc.en, "error_zh": exc.zh}
    return 200, status_payload()


def _allowed_hosts() -> list[str]:
    """The `allowed_hosts` setting (none when the settings cannot be read: the safe side)."""
    try:
        return [h for h in config.load().allowed_hosts.split(",") if h]
    except HDRedrawError:
        return []


CLIENT_HEADER = "X-HDRedraw-Client"
CLIENT_VALUE = "1"
MAX_BODY_BYTES = 64 * 1024  # every setting together is well under 16 KB
_DEFAULT_PORTS = {"http": 80, "https": 443}


def refusal(method: str, headers: Mapping[str, str],
            allowed_hosts: Iterable[str] | Callable[[], Iterable[str]] = ()) -> tuple[str, str] | None:
    """Why a request must be refused as possibly cross-site ((en, zh)), or None when it may proceed.

    `headers` must be case-insensitive (aiohttp's are).  Rules, all required:
    - `X-HDRedraw-Client: 1` is present (a custom header forces a CORS preflight, which ComfyUI never grants);
    - `Host` is an IP address, localhost, this computer's name or one of `allowed_hosts` (DNS rebinding; a
      callable is asked only for a name that is none of the others, so most requests read no settings);
    - `Sec-Fetch-Site`, when the browser sends it, is `same-origin`;
    - `Origin`, when present, is not `null` and names the host the request was sent to (`Host`, or
      `X-Forwarded-Host` behind a reverse proxy);
    - a POST says `Content-Type: application/json` (HTML forms and `text/plain` bodies need no preflight).
    """
    fix_en = " Change settings in ComfyUI Settings → HD Redraw (or with `hdredraw config set`); nothing was changed."
    fix_zh = "请在 ComfyUI 设置 → HD Redraw 中(或用 `hdredraw config set`)修改设置;未做任何更改。"
    if headers.get(CLIENT_HEADER, "").strip() != CLIENT_VALUE:
        return (f"Refused: this route answers only the HD Redraw settings page (header {CLIENT_HEADER} missing)."
                + fix_en, f"已拒绝:此接口只响应 HD Redraw 设置页面(缺少请求头 {CLIENT_HEADER})。" + fix_zh)
    host = unknown_host(headers.get("Host"), allowed_hosts)
    if host is not None:
        return (f"Refused: this ComfyUI was reached as {host[:80]!r}, a name the pack does not know (a web page can "
                "make a browser do this: DNS rebinding). If it is this server's own address, add it to "
                f"HDREDRAW_ALLOWED_HOSTS (or `hdredraw config set allowed_hosts {host[:80]}`); nothing was changed.",
                f"已拒绝:本 ComfyUI 以 {host[:80]!r} 被访问,插件不认识这个名称(网页可借 DNS 重绑定让浏览器这样做)。"
                f"如果这是本服务器自己的地址,请把它加入 HDREDRAW_ALLOWED_HOSTS(或运行 `hdredraw config set allowed_hosts "
                f"{host[:80]}`);未做任何更改。")
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() != "same-origin":
        return (f"Refused: the request came from another site (Sec-Fetch-Site: {site[:40]})." + fix_en,
                f"已拒绝:请求来自其他网站(Sec-Fetch-Site: {site[:40]})。" + fix_zh)
    origin = headers.get("Origin")
    if origin is not None and not _origin_matches(origin, [headers.get("Host"), headers.get("X-Forwarded-Host")]):
        return (f"Refused: the request came from another origin ({origin[:80]!r})." + fix_en,
                f"已拒绝:请求来自其他来源({origin[:80]!r})。" + fix_zh)
    if method.upper() == "POST":
        ctype = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return (f"Refused: settings must be sent as application/json (got {ctype[:60] or 'none'!r})." + fix_en,
                    f"已拒绝:设置必须以 application/json 发送(当前为 {ctype[:60] or '无'!r})。" + fix_zh)
    return None


def unknown_host(host: str | None, allowed: Iterable[str] | Callable[[], Iterable[str]] = ()) -> str | None:
    """None when `host` (a Host header) names this server as it is known, else the name to show."""
    try:
        name = urlsplit("//" + (host or "").strip()).hostname or ""
    except ValueError:
        name = ""
    if not name:
        return (host or "")[:80] or "(no Host header)"
    try:
        ipaddress.ip_address(name)
        return None  # a rebinding page can only send its own name, never an address
    except ValueError:
        pass
    name = name.rstrip(".").lower()
    own = socket.gethostname().lower()
    if name in ("localhost", own, own + ".local") or name.endswith(".localhost"):
        return None
    listed = allowed() if callable(allowed) else allowed
    return None if name in {a.strip().lower() for a in listed} else name


def _origin_matches(origin: str, hosts: list[str | None]) -> bool:
    """True if `origin` (scheme://host[:port]) names one of `hosts` (Host header values, port optional)."""
    try:
        parts = urlsplit(origin.strip())
        scheme, name, port = parts.scheme.lower(), parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return False
    if scheme not in _DEFAULT_PORTS or not name or parts.path or parts.username is not None:
        return False
    for host in hosts:
        if not host:
            continue
        try:
            h = urlsplit("//" + host.split(",")[0].strip())
            h_name, h_port = h.hostname, h.port
        except ValueError:
            continue
        if h_name == name and (h_port is None or h_port == port):
            return True
    return False


def tasks_payload(limit: int = 20) -> dict[str, Any]:
    from . import runner

    try:
        journal = runner.get_client().journal
    except HDRedrawError as exc:
        return {"tasks": [], "error": exc.en, "error_zh": exc.zh}
    from ..engine import prices

    entries = journal.recent(max(1, min(limit, 200))) if journal is not None else []
    try:  # charges need the balance seen before each task: read a little further back
        charged = prices.charges(journal.recent(max(limit, 200) + 50)) if journal is not None else {}
    except HDRedrawError:
        charged = {}
    return {"tasks": [{"op": e.op_id, "service": e.service, "task_id": e.task_id, "status": e.status,
                       "created_at": e.created_at, "submitted_at": e.submitted_at, "finished_at": e.finished_at,
                       "remaining_count": e.remaining_count, "remaining_money": e.remaining_money,
                       "charged": charged[e.id].as_dict() if e.id in charged else None}
                      for e in entries]}


def register() -> bool:
    """Add the routes to ComfyUI's server; False outside ComfyUI."""
    try:
        from aiohttp import web
        from server import PromptServer
    except Exception:
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None or not hasattr(instance, "routes"):
        return False
    routes = instance.routes

    def refused(request: Any) -> Any:
        reason = refusal(request.method, request.headers, _allowed_hosts)
        if reason is None:
            return None
        return web.json_response({"error": reason[0], "error_zh": reason[1]}, status=403)

    @routes.get("/hdredraw/status")
    async def get_status(request: Any) -> Any:
        return refused(request) or web.json_response(status_payload())

    @routes.post("/hdredraw/settings")
    async def post_settings(request: Any) -> Any:
        answer = refused(request)
        if answer is not None:
            return answer
        raw = b""
        if (request.content_length or 0) <= MAX_BODY_BYTES:  # read at most the cap, whatever the framing
            while len(raw) <= MAX_BODY_BYTES:
                chunk = await request.content.read(MAX_BODY_BYTES + 1 - len(raw))
                if not chunk:
                    break
                raw += chunk
        if (request.content_length or 0) > MAX_BODY_BYTES or len(raw) > MAX_BODY_BYTES:
            return web.json_response({
                "error": f"Refused: the settings update is larger than {MAX_BODY_BYTES // 1024} KB; nothing was saved.",
                "error_zh": f"已拒绝:设置内容超过 {MAX_BODY_BYTES // 1024} KB,未保存任何内容。"}, status=413)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            body = None
        code, payload = save_payload(body)
        return web.json_response(payload, status=code)

    @routes.get("/hdredraw/strings")
    async def get_strings(request: Any) -> Any:
        return refused(request) or web.json_response(strings_payload())

    @routes.get("/hdredraw/tasks")
    async def get_tasks(request: Any) -> Any:
        answer = refused(request)
        if answer is not None:
            return answer
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 20
        return web.json_response(tasks_payload(limit))

    return True
