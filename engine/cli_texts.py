"""The sentences `hdredraw run` prints about files written, conflicts and the balance."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import prices, result_files
from .console import elapsed_text
from .text import Text


def _written_text(w: result_files.Written, lang: str) -> str:
    shown = w.path.as_posix()
    if w.action == "unchanged":
        return shown + (" (已存在,相同)" if lang == "zh" else " (already there, same)")
    if w.action == "replaced":
        return shown + (" (已覆盖)" if lang == "zh" else " (replaced)")
    if w.action == "renamed" and w.instead_of is not None:
        return shown + (f"({w.instead_of.name} 已存在,未覆盖)" if lang == "zh" else
                        f" ({w.instead_of.name} exists and was kept)")
    return shown


def _conflict_text(paths: list[Path], dry: bool) -> Text:
    shown = "\n".join(f"  {p}" for p in paths[:10]) + (f"\n  … (+{len(paths) - 10})" if len(paths) > 10 else "")
    if dry:
        return Text(f"{len(paths)} existing file(s) would be in the way (a real run refuses, unless --overwrite):\n"
                    + shown, f"{len(paths)} 个已存在的文件会冲突(正式运行时将拒绝,除非加 --overwrite):\n" + shown)
    return Text(
        f"{len(paths)} file(s) in the output folder would be replaced; nothing was sent:\n{shown}\nUse another -o "
        "folder, move them away, or add --overwrite to replace them.",
        f"输出文件夹中有 {len(paths)} 个文件会被覆盖;未发送任何请求:\n{shown}\n请换一个 -o 文件夹、移走这些文件,"
        "或加 --overwrite 覆盖。")


def _balance_text(b: prices.Balance, lang: str) -> str:
    age = elapsed_text(max(0.0, time.time() - b.seen_at), lang)
    what = _balance_value(b, lang)
    return f"服务最近报告的余额:{what}({age}前)" if lang == "zh" else f"Balance last reported by the service: {what} ({age} ago)"


def _balance_value(b: prices.Balance, lang: str) -> str:
    bits = []
    if b.count is not None:
        bits.append(f"{b.count:g} 次" if lang == "zh" else f"{b.count:g} tasks")
    if b.money is not None:
        bits.append(f"¥{b.money:g}")
    return " / ".join(bits) or "?"


def _balance_change(before: prices.Balance, after: prices.Balance, lang: str) -> str:
    a, b = _balance_value(before, lang), _balance_value(after, lang)
    return f"服务报告的余额:{a} → {b}" if lang == "zh" else f"Balance reported by the service: {a} → {b}"


def _join(argv: Sequence[str]) -> str:
    if sys.platform == "win32":
        return subprocess.list2cmdline(list(argv))
    import shlex

    return shlex.join(argv)
