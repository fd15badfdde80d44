"""A key goes to its own service and nowhere else: not through a redirect, not back out of an echo.

A second local server plays "somewhere else" and records everything it receives.
"""

from __future__ import annotations

import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from hdredraw.engine import codecs, errors
from hdredraw.engine.jobs import Client
from hdredraw.engine.journal import Journal

KEY, TOKEN = "emulator-key", "emulator-token"


def picture(seed=0, h=40, w=48):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


class Elsewhere:
    """A plain server on 127.0.0.1 that records every request (headers and body) and answers a PNG."""

    def __init__(self):
        self.seen: list[dict] = []
        png = codecs.encode_png((picture(99) * 255).astype(np.uint8))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                   "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def leaked(self) -> bool:
        blob = repr(self.seen).encode() + b"".join(r["body"] for r in self.seen)
        return KEY.encode() in blob or TOKEN.encode() in blob

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def elsewhere():
    server = Elsewhere()
    yield server
    server.close()


@pytest.fixture
def jclient(make_settings, tmp_path, fast_polls, emu):
    emu.status_cache = 0.0
    c = Client(make_settings(), journal=Journal(tmp_path / "journal"))
    yield c
    c.close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirected_submit_is_not_followed(jclient, emu, elsewhere, code):
    emu.inject("submit", "redirect", code=code, location=elsewhere.url + "/api/submit_task")
    with pytest.raises(errors.HDRedrawError) as info:
        jclient.run("remove_fabric", picture())
    assert not elsewhere.seen and not elsewhere.leaked()
    assert "redirect" in info.value.en and elsewhere.url.split("//")[1] in info.value.en
    assert isinstance(info.value, errors.SubmitUncertain) == (code in (302, 303))


@pytest.mark.parametrize("code", [307, 308])
def test_a_redirected_status_check_is_not_followed(jclient, emu, elsewhere, code):
    emu.inject("status", "redirect", count=20, code=code, location=elsewhere.url + "/api/check_task_status")
    with pytest.raises(errors.HDRedrawError) as info:
        jclient.run("remove_fabric", picture())
    assert not elsewhere.seen and info.value.task_id == emu.submissions[0]["task_id"]


def test_a_redirected_hidream_submit_is_not_followed(jclient, emu, elsewhere):
    emu.inject("submit", "redirect", code=307, location=elsewhere.url + "/steal")
    with pytest.raises(errors.HDRedrawError):
        jclient.run("hidream_vectorize", picture(), {"mode": "fast"})
    assert not elsewhere.seen


def test_a_download_may_be_redirected_but_carries_no_credentials(jclient, emu, elsewhere):
    emu.inject("download", "redirect", code=302, location=elsewhere.url + "/cdn/result.png")
    result = jclient.run("remove_fabric", picture())
    assert [r["method"] for r in elsewhere.seen] == ["GET"] and not elsewhere.leaked()
    assert "authorization" not in {k.lower() for k in elsewhere.seen[0]["headers"]}
    assert result.images and codecs.sniff(result.images[0]) == "png"


def test_an_echoed_key_is_masked_everywhere_the_pack_shows_or_stores_text(jclient, emu, tmp_path):
    emu.inject("submit", "echo")
    emu.inject("status", "echo", count=50)
    texts: list[str] = []
    result = jclient.run("redraw", picture(), {"auto_generate_prompt": True}, on_progress=lambda p: texts.append(
        p.text("en") + p.text("zh")))
    shown = "\n".join(texts) + result.prompt + repr(result.urls) + "".join(n.en + n.zh for n in result.notes)
    assert "emulator" in result.prompt or result.prompt  # the echo arrived ...
    assert KEY not in shown and TOKEN not in shown  # ... and was masked
    stored = b""
    for path in (tmp_path / "journal").rglob("*"):
        if path.is_file():
            stored += path.read_bytes()
    with sqlite3.connect(tmp_path / "journal" / "journal.sqlite3") as db:
        stored += repr(db.execute("SELECT * FROM tasks").fetchall()).encode()
    assert KEY.encode() not in stored and TOKEN.encode() not in stored


def test_an_echoed_key_in_an_error_is_masked(jclient, emu):
    emu.inject("submit", "echo")
    emu.fail_next("failed")
    with pytest.raises(errors.HDRedrawError) as info:
        jclient.run("remove_fabric", picture())
    assert KEY not in str(info.value) and KEY not in (info.value.upstream or "")
