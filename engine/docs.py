"""The README's operation reference, generated from the specs.

`python -m hdredraw.engine.docs` prints it; `--write README.md` replaces the block between the markers.
A test keeps the README in step with the specs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import specs

BEGIN, END = "<!-- operations:begin -->", "<!-- operations:end -->"


def _field_line(f: specs.Field) -> str:
    if f.is_file:
        return f"`{f.name}` image"
    if f.choices:
        values = " / ".join(f"`{c.value}`" + (f" {c.label.en}" if str(c.value) != c.label.en else "")
                            for c in f.choices)
        rng = f"one of {values}"
    elif f.min is not None:
        rng = f"{f.min:g}–{f.max:g}"
    else:
        rng = f.kind
    default = f", default `{f.default}`" if f.default not in (None, "") else ""
    need = "" if f.required else " (optional)"
    return f"`{f.name}` {rng}{default}{need}"


def cli_command(op: specs.Operation) -> str:
    """How the command line runs an operation: `run OP` for paid ones, `fetch` for the free status query."""
    return f"hdredraw run {op.id}" if op.paid else "hdredraw fetch TASK_ID"


# Nodes that call no service, listed after the operations.
LOCAL_NODES = (("HDRedraw_RenderSVG", "Render SVG · 渲染 SVG", "hdredraw render-svg", "local, no service",
                "`svg` SVG or `svg_text` string; `width` 0–16384, default `0`; `height` 0–16384, default `0`; "
                "`background` string (optional)"),)


def operations_markdown() -> str:
    rows = ["| node | command line | endpoint | inputs |", "|---|---|---|---|"]
    for op in specs.OPERATIONS.values():
        if not op.node_id:
            continue
        fields = "; ".join(_field_line(f) for f in op.fields)
        rows.append(f"| `{op.node_id}`<br>{op.title.en} · {op.title.zh} | `{cli_command(op)}` | "
                    f"`{op.method} {op.endpoint}` | {fields} |")
    for node, title, command, where, fields in LOCAL_NODES:
        rows.append(f"| `{node}`<br>{title} | `{command}` | {where} | {fields} |")
    return "\n".join(rows)


def replace_block(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{operations_markdown()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--write":
        path = Path(argv[1])
        path.write_text(replace_block(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(operations_markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
