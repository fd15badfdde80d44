"""The HiDream img2svg routes: async submit and results polling (JSON, Bearer token).

The image arrives as base64 (optionally a data: URL) or as an http(s) URL; the
emulator only "fetches" URLs that point at itself (served from memory), so tests
never reach the internet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
import uuid
from urllib.parse import urlsplit

from ..specs import HIDREAM, OPERATIONS
from . import imaging
from .state import EmulatorState
from .wire import Reply, json_reply

SUBMIT_OP = OPERATIONS["hidream_vectorize"]
_DATA_URL = re.compile(r"^data:([\w.+/-]+)?(;[^,]*)?,", re.I)


def _answer(code: int, message: str, result: dict | None = None, status: int = 200) -> Reply:
    body: dict = {"code": code, "message": message, "request_id": str(uuid.uuid4())}
    if result is not None:
        body["result"] = result
    return json_reply(body, status)


def _authorized(emu: EmulatorState, headers) -> bool:
    auth = headers.get("Authorization", "") or ""
    scheme, _, token = auth.partition(" ")
    return scheme.lower() == "bearer" and emu._valid_token(token.strip())


def unauthorized() -> Reply:
    return _answer(40101, "Unauthorized: invalid token", status=401)


def _image_bytes(emu: EmulatorState, image: str) -> tuple[bytes | None, str, Reply | None]:
    """(bytes, content type, None) or (None, '', error reply)."""
    if re.match(r"^https?://", image, re.I):
        url = urlsplit(image)
        try:
            own = url.hostname in ("127.0.0.1", "localhost") and url.port == emu.port
        except ValueError:  # a port that is not a number
            own = False
        found = emu._download(url.path) if own else None
        if found is None:
            return None, "", _answer(40002, "image url not reachable")
        return found[0], found[1], None
    ctype = ""
    m = _DATA_URL.match(image)
    if m:
        ctype, image = m.group(1) or "", image[m.end():]
    try:
        data = base64.b64decode("".join(image.split()) + "==", validate=False)
    except (binascii.Error, ValueError):
        return None, "", _answer(40003, "invalid image")
    return data, ctype, None


def submit(emu: EmulatorState, headers, body: bytes) -> Reply:
    if not _authorized(emu, headers):
        return unauthorized()
    try:
        payload = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        return _answer(40000, "invalid request body")
    mode = payload.get("mode")
    if mode not in SUBMIT_OP.field("mode").choice_values():
        return _answer(40001, "invalid mode")
    image = payload.get("image")
    if not isinstance(image, str) or not image.strip():
        return _answer(40003, "invalid image")
    data, ctype, err = _image_bytes(emu, image.strip())
    if err is not None or data is None:
        return err or _answer(40003, "invalid image")
    try:
        img = imaging.decode(data)
    except ValueError:
        return _answer(40003, "invalid image")
    fields = {"mode": mode}
    notify = payload.get("notify_url")
    if notify:
        fields["notify_url"] = str(notify)
    record = {"fields": fields, "file_sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data),
              "content_type": ctype or _mime(data), "filename": None,
              "image_size": list(img.size), "image_mode": img.mode,
              "image_url": image.strip() if image.strip().lower().startswith("http") else None}
    token = headers.get("Authorization", "").partition(" ")[2].strip()
    task, _ = emu._create_task(SUBMIT_OP, token, img, {"mode": mode}, record)
    assert task is not None  # HiDream does not charge, so creation cannot be refused
    return _answer(0, "Success", {"sub_task_ids": [task.sub_task_id], "task_id": task.id})


def _mime(data: bytes) -> str:
    """The MIME type of an upload that came without one (from its signature)."""
    sigs = {b"\x89PNG": "image/png", b"\xff\xd8": "image/jpeg", b"GIF8": "image/gif", b"RIFF": "image/webp",
            b"BM": "image/bmp"}
    return next((m for s, m in sigs.items() if data.startswith(s)), "application/octet-stream")


def results(emu: EmulatorState, headers, query: dict[str, str]) -> Reply:
    if not _authorized(emu, headers):
        return unauthorized()
    token = headers.get("Authorization", "").partition(" ")[2].strip()
    task = emu._lookup(query.get("task_id", "").strip())
    if task is None or OPERATIONS[task.op].service != HIDREAM or task.account != token:
        return _answer(40004, "task not found")
    now = time.time()
    with emu._lock:
        task.polls += 1
    span = task.done_at - task.created
    if now >= task.done_at:
        status = {"failed": 3, "moderation": 4}.get(task.fail or "", 1)
    else:
        status = 0 if now - task.created < 0.1 * span else 2
    sub = {"image": emu._result_urls(task)["svg"] if status == 1 else "", "sub_task_id": task.sub_task_id,
           "task_completion": task.progress(now), "task_status": status}
    return _answer(0, "Success", {"sub_task_results": [sub], "task_id": task.id})
