"""Request bodies in, replies out: the small HTTP vocabulary the emulator speaks.

The form parser is written against the stdlib only (the `cgi` module is gone in
3.13) and accepts both encodings clients really send: multipart when a file is
attached, urlencoded when not (httpx/requests `data=` without `files=`, which is
how the documented check_task_status example posts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl


class FormError(ValueError):
    """The body could not be read as a form."""


@dataclass
class Upload:
    """One multipart part, kept as raw bytes."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)


@dataclass
class Reply:
    """What a route answers; the HTTP layer decides how (or whether) it is sent."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Reply(status, body, "application/json; charset=utf-8", dict(headers or {}))


def _header(value: str, name: str = "content-type") -> Message:
    msg = Message()
    msg[name] = value
    return msg


def parse_form(content_type: str, body: bytes) -> Form:
    """Parse a multipart/form-data or urlencoded body into text fields and file parts."""
    ctype = _header(content_type or "").get_content_type() if content_type else ""
    if ctype == "multipart/form-data":
        boundary = _header(content_type).get_param("boundary")
        if not boundary or not isinstance(boundary, str):
            raise FormError("multipart body without boundary")
        return _multipart(body, boundary.encode("latin-1"))
    if ctype in ("", "text/plain", "application/x-www-form-urlencoded"):
        text = body.decode("utf-8", "replace")
        return Form(fields=dict(parse_qsl(text, keep_blank_values=True)))
    raise FormError(f"unsupported content type {ctype}")


def _multipart(body: bytes, boundary: bytes) -> Form:
    form = Form()
    chunks = body.split(b"--" + boundary)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise FormError("multipart part without header separator")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip()] = value.strip()
        disposition = headers.get("content-disposition", "")
        if not disposition:
            continue
        disp = _header(disposition, "content-disposition")
        name = disp.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = disp.get_filename()
        part = Upload(name, filename, headers.get_content_type() if "content-type" in headers else "", data)
        form.files.setdefault(name, part)
        if filename is None:
            form.fields.setdefault(name, data.decode("utf-8", "replace"))
    return form


def error_page(status: int) -> Reply:
    """What a proxy in front of a real service sends when the backend misbehaves."""
    reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               429: "Too Many Requests", 404: "Not Found", 405: "Method Not Allowed",
               413: "Payload Too Large"}
    text = f"{status} {reasons.get(status, 'Error')}"
    html = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>\n"
    return Reply(status, html.encode(), "text/html; charset=utf-8")
