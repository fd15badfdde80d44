"""Text in the pack's two languages, and the one place that decides which language to show.

Inside ComfyUI the node layer installs a resolver that follows ComfyUI's own language setting, so a node's
status line, the engine's notes ("reused …") and its errors all speak the same language; outside it the
process locale decides.  `HDREDRAW_LANG=zh|en` overrides both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

_resolver: Callable[[], str | None] | None = None


@dataclass(frozen=True)
class Text:
    """A string in both of the pack's languages."""

    en: str
    zh: str

    def get(self, lang: str | None = None) -> str:
        return self.zh if (lang or language()).startswith("zh") else self.en


def set_resolver(resolver: Callable[[], str | None] | None) -> None:
    """Where the host application's language comes from (ComfyUI's setting); None: the process locale."""
    global _resolver
    _resolver = resolver


def language() -> str:
    """'zh' or 'en': HDREDRAW_LANG, else the host's language (when it has one), else the process locale."""
    forced = (os.environ.get("HDREDRAW_LANG") or "").lower()
    if forced:
        return "zh" if forced.startswith("zh") else "en"
    if _resolver is not None:
        try:
            chosen = _resolver()
        except Exception:  # noqa: BLE001 - a broken setting file must not break a message
            chosen = None
        if chosen:
            return "zh" if chosen.lower().startswith("zh") else "en"
    return locale_language()


def locale_language() -> str:
    lang = (os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or "").lower()
    return "zh" if lang.startswith("zh") else "en"
