"""Keep keys and tokens out of every message, log line and exception.

Credentials register themselves here when they are loaded; `redact` replaces
them anywhere in a string, and `RedactingFilter` does the same for every log
record of the pack's loggers.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

# Secrets shorter than this are not registered: replacing them would mangle ordinary text.
MIN_SECRET_LENGTH = 4


def register_secret(value: str | None) -> None:
    """Remember a key or token so it is masked wherever it might appear."""
    global _pattern
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def mask(value: str | None) -> str:
    """A hint that tells keys apart without revealing them: '…abcd'."""
    if not value:
        return ""
    return "…" + value[-4:] if len(value) > 8 else "…"


def redact(text: str) -> str:
    """`text` with every registered secret and any Bearer/user_key value replaced by ***."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub("***", text)
    text = re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}", r"\1***", text)
    return re.sub(r"(?i)(user_key['\"]?\s*[:=]\s*['\"]?)[^'\"&\s,}]+", r"\1***", text)


def redact_answer(data: Any, url_keys: frozenset[str] = frozenset(), _key: str = "") -> Any:
    """A parsed service answer with every registered secret masked in its texts.

    http(s) addresses under `url_keys` (result files) are left as they are: they are only ever downloaded,
    never shown, and the journal masks them itself when it stores them.
    """
    if isinstance(data, str):
        if _key in url_keys and data.startswith(("http://", "https://")):
            return data
        return redact(data)
    if isinstance(data, dict):
        return {k: redact_answer(v, url_keys, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_answer(v, url_keys, _key) for v in data]
    return data


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with secrets masked (installed on the pack's logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def get_logger(name: str) -> logging.Logger:
    """A logger under 'hdredraw' whose records are always redacted."""
    root = logging.getLogger("hdredraw")
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        root.addFilter(RedactingFilter())
    logger = logging.getLogger(name if name.startswith("hdredraw") else f"hdredraw.{name}")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
