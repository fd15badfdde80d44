"""A real HTTP server playing both services on 127.0.0.1, with fault injection.

Clients are tested over real sockets (keep-alive, timeouts, dropped and
truncated answers) rather than mocks, because those are exactly the places a
client goes wrong.  Every answer carries a Content-Length so HTTP/1.1
keep-alive works; faults that cut a connection do it without a traceback.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import HDRedrawError
from ..specs import HDREDRAW, HIDREAM, OPERATIONS, by_endpoint
from . import hdredraw, hidream
from .state import FAULT_KINDS, PHASES, EmulatorState, Fault
from .wire import FormError, Reply, error_page, json_reply, parse_form

MAX_BODY = 64 * 1024 * 1024  # well above the 16 MB upload limit, so that limit is answered in JSON
CONTROL = "/__emulator__"
_STATUS_PATHS = {OPERATIONS[op.status_op].endpoint for op in OPERATIONS.values() if op.paid and op.status_op}
_GARBAGE = b"\x00\x01not an image, just garbage\xff\xfe" * 4


def phase_of(method: str, path: str) -> str:
    """Which fault phase a request belongs to (or 'control' / 'other')."""
    if path.startswith(CONTROL):
        return "control"
    if path in _STATUS_PATHS:
        return "status"
    if method == "GET" and (path.startswith("/api/images/") or path.startswith("/media/")):
        return "download"
    op = by_endpoint(HDREDRAW, path) or by_endpoint(HIDREAM, path)
    if op is not None and op.paid and op.method == method:
        return "submit"
    return "other"


def _malformed(phase: str, path: str) -> Reply:
    if phase != "download":
        return Reply(200, b'{"err_code": 0, "task_id": <html>upstream hiccup', "application/json")
    ctype = ("application/postscript" if path.endswith("/vector")
             else "image/svg+xml" if path.endswith(".svg") else "image/png")
    return Reply(200, _GARBAGE, ctype)


def _echo(reply: Reply, secrets: tuple[str, ...]) -> Reply:
    """The answer with the caller's credentials echoed into its texts, as a careless service might."""
    try:
        data = json.loads(reply.body)
    except ValueError:
        return reply
    echo = " / ".join(secrets)
    if isinstance(data, dict):
        data["echo"] = f"user_key={secrets[0]} Authorization: Bearer {secrets[1]}"
        for key in ("err_msg", "message", "generated_prompt"):
            data[key] = f"{data.get(key) or ''} {echo}".strip()
        if isinstance(data.get("status"), str) and data["status"].lower() != "completed":
            data["status"] = f"{data['status']} {echo}"
    return Reply(reply.status, json.dumps(data, ensure_ascii=False).encode("utf-8"), reply.content_type,
                 reply.headers)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HDRedrawEmulator/1.0"
    timeout = 120  # idle keep-alive connections are closed after this

    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if not self.server.emulator.quiet:
            super().log_message(format, *args)

    # ------------------------------------------------------------------ plumbing

    def _read_body(self) -> bytes | None:
        """The whole request body (always consumed, so keep-alive stays in step); None if unreadable."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length > MAX_BODY or length < 0:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: Reply, truncate: bool = False) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body[: len(reply.body) // 2] if truncate else reply.body)
        except OSError:
            self.close_connection = True  # the client went away (e.g. after its own timeout)
            return
        if truncate:
            self._abort()

    def _abort(self) -> None:
        """Close the connection abruptly: no (further) bytes, no response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, method: str) -> None:
        emu = self.server.emulator
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self._read_body()
        except (OSError, ValueError):
            body = None
        if body is None:
            self.close_connection = True  # the rest of the body is still in flight: don't reuse the connection
            return self._send(error_page(413))
        phase = phase_of(method, path)
        fault = emu._take_fault(phase) if phase in PHASES else None
        emu._record_request(method, path, phase, fault.kind if fault else None)
        kind = fault.kind if fault else None
        if fault and kind in ("500", "501", "502", "503"):
            return self._send(error_page(int(kind)))
        if phase == "submit" and emu.max_concurrent is not None and emu.running() >= emu.max_concurrent:
            emu.busy_refusals += 1
            page = error_page(429)
            page.headers["Retry-After"] = "1"
            return self._send(page)
        if fault and kind == "429":
            page = error_page(429)
            page.headers["Retry-After"] = str(fault.opts.get("retry_after", 1))
            return self._send(page)
        if kind == "drop":
            return self._abort()
        if fault and kind == "redirect":
            return self._send(Reply(int(fault.opts.get("code", 307)), b"", "text/plain",
                                    {"Location": str(fault.opts.get("location", "/"))}))
        if fault and kind == "hang" and emu._hang(float(fault.opts.get("seconds", 5))):
            return self._abort()
        try:
            reply = self._route(method, path, dict(parse_qsl(url.query)), body)
        except Exception:
            if not emu.quiet:
                traceback.print_exc()
            reply = json_reply({"detail": "emulator internal error"}, 500)
        if kind == "drop_after_accept":
            return self._abort()
        if kind == "malformed":  # processed (a submit IS created), but the answer is garbage
            reply = _malformed(phase, path)
        # late: processed (a submit IS created), answered only after `seconds`
        if fault and kind == "late" and emu._hang(float(fault.opts.get("seconds", 5))):
            return self._abort()
        if kind == "echo":
            reply = _echo(reply, (emu.user_key, emu.hidream_token))
        self._send(reply, truncate=kind == "truncate")

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        emu = self.server.emulator
        if path.startswith(CONTROL) or path == "/":
            return control(emu, method, path, body)
        if path.startswith("/api/images/") or path.startswith("/media/"):
            if method != "GET":
                return error_page(405)
            found = emu._download(path)
            return error_page(404) if found is None else Reply(200, found[0], found[1])
        op = by_endpoint(HIDREAM, path)
        if op is not None:
            if method != op.method:
                return error_page(405)
            return hidream.submit(emu, self.headers, body) if op.paid else hidream.results(emu, self.headers, query)
        op = by_endpoint(HDREDRAW, path)
        if op is None:
            return error_page(404)
        if method != "POST":
            return error_page(405)
        try:
            form = parse_form(self.headers.get("Content-Type", ""), body)
        except FormError as exc:
            return hdredraw.error(f"{hdredraw.SUBMIT_FAILED}无法解析请求({exc})")
        return hdredraw.submit(emu, op, form) if op.paid else hdredraw.check_status(emu, form)


def control(emu: Emulator, method: str, path: str, body: bytes) -> Reply:
    """The /__emulator__ API: the same knobs as the Python methods, for other processes and browsers."""
    action = path[len(CONTROL):].strip("/")
    if method == "GET" and action in ("", "state"):
        if action == "state":
            return json_reply(emu.state())
        return json_reply({"emulator": "ComfyUI-HDRedraw", "base_url": emu.base_url,
                           "hidream_base_url": emu.hidream_base_url,
                           "operations": {op.id: op.endpoint for op in OPERATIONS.values()},
                           "control": [f"{CONTROL}/{a}" for a in ("state", "faults", "fail_next", "config",
                                                                  "accounts", "reset")],
                           "fault_kinds": list(FAULT_KINDS)})
    if method != "POST":
        return error_page(405)
    try:
        data = json.loads(body.decode("utf-8") or "{}")
        if not isinstance(data, dict):
            raise ValueError("a JSON object is expected")
        if action == "faults":
            emu.inject(**data)
        elif action == "fail_next":
            emu.fail_next(**data)
        elif action == "config":
            if "processing_time" in data:
                emu.processing_time = data["processing_time"]
            if "status_cache" in data:
                emu.status_cache = data["status_cache"]
            if "max_concurrent" in data:
                emu.max_concurrent = None if data["max_concurrent"] is None else int(data["max_concurrent"])
            for op_id, seconds in (data.get("processing_times") or {}).items():
                emu.set_processing_time(op_id, seconds)
        elif action == "accounts":
            emu.add_account(**data)
        elif action == "reset":
            emu.reset()
        else:
            return error_page(404)
    except (TypeError, ValueError) as exc:
        return json_reply({"ok": False, "error": str(exc)}, 400)
    return json_reply({"ok": True})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: Emulator

    def __init__(self, emulator: Emulator, port: int):
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Cut kept-alive connections so no handler thread outlives stop()."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        if not self.emulator.quiet:
            super().handle_error(request, client_address)


class Emulator(EmulatorState):
    """Both services on one local port.

    `start()`/`stop()` (or `with`), `base_url`/`hidream_base_url`, accounts (`add_account`, `account`),
    timing (`processing_time`, `status_cache`, `set_processing_time`), faults (`inject`, `fail_next`) and
    records (`submissions`, `requests`, `status_polls`, `task`, `reset`) come from `EmulatorState`.
    """

    def __init__(self, port: int = 0, processing_time: float = 2.0, status_cache: float = 3.0,
                 user_key: str = "emulator-key", hidream_token: str = "emulator-token",
                 remaining_count: int = 100, remaining_money: int = 300, price: int = 1, quiet: bool = True):
        super().__init__(processing_time, status_cache, user_key, hidream_token, remaining_count,
                         remaining_money, price)
        self.quiet = quiet
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> Emulator:
        """Open the listening socket (port 0 picks a free one) without serving yet."""
        if self._server is None:
            self._server = _Server(self, self._port)
            self._port = self._server.server_address[1]
        return self

    def start(self) -> Emulator:
        """Serve in a background daemon thread."""
        if self._thread is None:
            server = self.bind()._server
            assert server is not None
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"hdredraw-emulator:{self._port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._release_hangs()
        if self._thread is not None:
            server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        server.close_all()
        server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def hidream_base_url(self) -> str:
        return self.base_url


def serve(port: int = 8765, **opts: Any) -> None:
    """Run the emulator in the foreground (for the CLI) until Ctrl-C.

    A port that cannot be opened (in use, not allowed) is an HDRedrawError with both languages, not a
    traceback: the command line prints it and exits with code 2.
    """
    opts.setdefault("quiet", False)
    try:
        emu = Emulator(port=port, **opts).bind()
    except OSError as exc:
        raise _port_error(port, exc) from None
    print(f"HD Redraw / HiDream emulator at {emu.base_url}\n"
          f"  user_key:      {emu.user_key}\n  hidream token: {emu.hidream_token}\n"
          f"  control:       {emu.base_url}{CONTROL}/state   (Ctrl-C stops)\n"
          f"  use it:        HDREDRAW_BASE_URL={emu.base_url} HDREDRAW_USER_KEY={emu.user_key} "
          f"HIDREAM_BASE_URL={emu.base_url} HIDREAM_API_TOKEN={emu.hidream_token}", flush=True)
    assert emu._server is not None
    try:
        emu._server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        emu._server.close_all()
        emu._server.server_close()
        emu._server = None


def _port_error(port: int, exc: OSError) -> HDRedrawError:
    if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        return HDRedrawError(
            f"Port {port} on 127.0.0.1 is already in use (another emulator or program). Choose another with "
            "--port, or --port 0 for a free one.",
            f"127.0.0.1 的端口 {port} 已被占用(另一个模拟服务或程序)。请用 --port 换一个端口,或用 --port 0 自动选择空闲端口。")
    return HDRedrawError(
        f"The emulator cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}). Choose another port with --port.",
        f"模拟服务无法在 127.0.0.1:{port} 上监听({exc.strerror or exc})。请用 --port 换一个端口。")


__all__ = ["Emulator", "serve", "Fault", "phase_of"]
