"""Full-width punctuation for Chinese text.

Why: many of the pack's Chinese strings (specs, settings help, engine notes) were written with ASCII commas,
colons and parentheses ("提供,优先"), which reads as broken typography to a Chinese reader.  Everything the
pack generates for the UI (locale files, help pages) and the node's status line pass through `fullwidth`, so
the fix holds for every string, old or new.
"""

from __future__ import annotations

import re

_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_IS_CJK = re.compile(f"[{_CJK}]")
_PUNCT = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？"}


def fullwidth(text: str) -> str:
    """Chinese text with full-width punctuation wherever it touches Chinese: ',' ';' ':' '!' '?' next to a
    CJK character, parentheses whose inside or outside is Chinese, and straight double quotes around Chinese.
    Code in backticks, numbers ("1,000", "1:1"), URLs and English-only stretches are left as they are."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(part if part.startswith("`") else _fullwidth_plain(part) for part in parts)


def _fullwidth_plain(s: str) -> str:
    def near_cjk(i: int) -> bool:
        j, k = i - 1, i + 1
        while j >= 0 and s[j] == " ":
            j -= 1
        while k < len(s) and s[k] == " ":
            k += 1
        return (j >= 0 and bool(_IS_CJK.match(s[j]))) or (k < len(s) and bool(_IS_CJK.match(s[k])))

    out = list(s)
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    for i, ch in enumerate(s):
        if ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            pairs.append((stack.pop(), i))
        elif ch in _PUNCT and near_cjk(i):
            if ch == ":" and s[i + 1:i + 3] == "//":
                continue
            out[i] = _PUNCT[ch]
    for a, b in pairs:
        if _IS_CJK.search(s[a + 1:b]) or near_cjk(a) or near_cjk(b):
            out[a], out[b] = "（", "）"
    text = "".join(out)
    text = re.sub(r'"([^"]*[\u4e00-\u9fff][^"]*)"', r"“\1”", text)
    # no spaces around full-width punctuation
    return re.sub(r" *([（），；：！？“”]) *", lambda m: m.group(1), text).replace("） ", "）")
