"""The `hdredraw` command: demo, run, fetch, emulator, config.

Options of `hdredraw run OPERATION` are generated from the operation specs, so `--help` always matches
what the service accepts.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from . import codecs, config, errors, specs
from .errors import HDRedrawError
from .jobs import Client, Progress, TaskResult
from .journal import describe, describe_accounts, open_journal

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "eps": ".eps", "svg": ".svg"}


# --------------------------------------------------------------------------- terminal progress

class TerminalProgress:
    """One line per image, redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, labels: Sequence[str], stream=None):
        self.labels = list(labels)
        self.lines = [""] * len(labels)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()
        self.drawn = False
        self.lang = errors.preferred_language()
        self.last_plain: dict[int, str] = {}

    def __call__(self, index: int, p: Progress) -> None:
        text = f"{self.labels[index]}: {p.text(self.lang)}"
        with self.lock:
            self.lines[index] = text
            if self.tty:
                if self.drawn:
                    self.stream.write(f"\x1b[{len(self.lines)}F")
                for line in self.lines:
                    self.stream.write("\x1b[2K" + line[:200] + "\n")
                self.drawn = True
            elif self.last_plain.get(index) != p.stage:
                self.last_plain[index] = p.stage
                self.stream.write(text + "\n")
            self.stream.flush()


# --------------------------------------------------------------------------- writing results

def save_result(result: TaskResult, out_dir: Path, stem: str) -> list[Path]:
    """Write every file of a result as the service sent it (no re-encoding)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        path = out_dir / (name + EXTENSIONS.get(codecs.sniff(data) or "", ".bin"))
        path.write_bytes(data)
        written.append(path)

    for i, data in enumerate(result.images):
        put(stem if i == 0 else f"{stem}_{i + 1}", data)
    if result.grid:
        put(f"{stem}_grid", result.grid)
    if result.image_1x:
        put(f"{stem}_1x", result.image_1x)
    if result.vector:
        put(f"{stem}_vector", result.vector)
    for i, data in enumerate(result.svgs):
        put(stem if i == 0 else f"{stem}_{i + 1}", data)
    if result.prompt:
        path = out_dir / f"{stem}_prompt.txt"
        path.write_text(result.prompt, encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- commands

def _add_field_option(parser: argparse.ArgumentParser, f: specs.Field) -> None:
    lang = errors.preferred_language()
    bits = [f.tooltip.get(lang)]
    if f.choices:
        bits.append("choices: " + ", ".join(f"{c.value} ({c.label.en})" if str(c.value) != c.label.en
                                            else str(c.value) for c in f.choices))
    elif f.min is not None:
        bits.append(f"range {f.min:g}-{f.max:g}")
    bits.append(f"default: {f.default!r}" if f.default not in (None, "") else
                ("required" if f.required else "optional"))
    parser.add_argument(f"--{f.name}", dest=f.name, default=None, metavar=f.kind.upper(),
                        help="; ".join(bits).replace("%", "%%"))


def cmd_run(args: argparse.Namespace) -> int:
    op = specs.get(args.operation)
    params = {f.name: getattr(args, f.name) for f in op.params if getattr(args, f.name) is not None}
    values = op.validate(params)  # fail before reading files or connecting
    inputs = [Path(p) for p in args.inputs]
    missing = [str(p) for p in inputs if not p.is_file()]
    if missing:
        raise errors.ValidationError(f"Input file not found: {', '.join(missing)}.",
                                     f"找不到输入文件:{', '.join(missing)}。")
    client = journaled_client()
    progress = TerminalProgress([p.name for p in inputs])
    cancel = threading.Event()
    try:
        outcomes = client.run_many(op, [p.read_bytes() for p in inputs], values, cancel=cancel.is_set,
                                   on_progress=progress, concurrency=args.concurrency, variation=args.variation)
    except KeyboardInterrupt:
        cancel.set()
        raise
    out = Path(args.output)
    failed = 0
    for path, outcome in zip(inputs, outcomes, strict=True):
        if isinstance(outcome, HDRedrawError):
            failed += 1
            print(f"{path.name}: {outcome}", file=sys.stderr)
            continue
        files = save_result(outcome, out, f"{path.stem}_{op.id}")
        for note in outcome.notes:
            print(f"{path.name}: {note.get(errors.preferred_language())}", file=sys.stderr)
        print(f"{path.name}: task {outcome.task_id} -> " + ", ".join(str(f) for f in files))
    return 1 if failed else 0


def journaled_client() -> Client:
    settings = config.load()
    return Client(settings, journal=open_journal(settings))


def cmd_tasks(args: argparse.Namespace) -> int:
    journal = open_journal(config.load())
    try:
        print(describe(journal.recent(args.limit)))
        accounts = describe_accounts(journal.account_stats())
        if accounts:
            print("\nPer account, all workers sharing this journal (new tasks since midnight, newest balance seen):")
            print(accounts)
    finally:
        journal.close()
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    client = journaled_client()
    progress = TerminalProgress([args.task_id])
    result = client.fetch(args.task_id, service=args.service, on_progress=lambda p: progress(0, p))
    for f in save_result(result, Path(args.output), f"task_{args.task_id}"):
        print(f)
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator import serve

    serve(port=args.port, processing_time=args.processing_time)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.action == "path":
        print(config.config_path())
    elif args.action == "set":
        if not args.name or args.value is None:
            raise errors.ValidationError("Usage: hdredraw config set NAME VALUE", "用法:hdredraw config set 名称 值")
        path = config.save({args.name: args.value})
        print(f"saved {args.name} to {path} (owner-only)")
    elif args.action == "unset":
        config.save({args.name: None})
    else:
        print(json.dumps(config.status(), ensure_ascii=False, indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.output) if args.output else None)


def build_parser() -> argparse.ArgumentParser:
    lang = errors.preferred_language()
    parser = argparse.ArgumentParser(
        prog="hdredraw", description="HD Redraw and HiDream img2svg from the command line (ComfyUI-HDRedraw).")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="Run a full pipeline against the built-in emulator (no key, no network).")
    demo.add_argument("-o", "--output", help="Folder for results (default: a new folder under ./hdredraw-demo).")
    demo.set_defaults(func=cmd_demo)

    ops = specs.paid_operations()
    op_lines = "\n".join(f"  {op.id:<18} {op.title.get(lang)} ({op.service}: {op.endpoint})" for op in ops)
    run = sub.add_parser("run", help="Run an operation on image files against the configured service.",
                         description="Operations:\n" + op_lines, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_sub = run.add_subparsers(dest="operation", required=True, metavar="OPERATION")
    for op in ops:
        p = run_sub.add_parser(op.id, help=op.title.get(lang), description=op.description.get(lang))
        p.add_argument("inputs", nargs="+", metavar="INPUT", help="Image files (PNG, JPEG, WebP); a batch runs "
                       "concurrently.")
        p.add_argument("-o", "--output", default=".", help="Output folder (default: current folder).")
        p.add_argument("--concurrency", type=int, default=None, help="Tasks at once (default: settings, 4).")
        p.add_argument("--variation", type=int, default=0, help="Same inputs reuse the recorded result (no "
                       "charge); another number pays for a fresh one.")
        for f in op.params:
            _add_field_option(p, f)
        p.set_defaults(func=cmd_run)

    fetch = sub.add_parser("fetch", help="Download a finished task's results again (no charge).")
    fetch.add_argument("task_id")
    fetch.add_argument("--service", choices=[specs.HDREDRAW, specs.HIDREAM], default=specs.HDREDRAW)
    fetch.add_argument("-o", "--output", default=".")
    fetch.set_defaults(func=cmd_fetch)

    tasks = sub.add_parser("tasks", help="List recent tasks from the journal (operation, status, age, balance).")
    tasks.add_argument("-n", "--limit", type=int, default=20)
    tasks.set_defaults(func=cmd_tasks)

    emu = sub.add_parser("emulator", help="Serve the built-in emulator of both services on 127.0.0.1.")
    emu.add_argument("--port", type=int, default=8765)
    emu.add_argument("--processing-time", type=float, default=5.0, help="Seconds each task takes (default 5).")
    emu.set_defaults(func=cmd_emulator)

    cfg = sub.add_parser("config", help="Show or change settings (keys are stored owner-only, never shown).")
    cfg.add_argument("action", choices=["show", "set", "unset", "path"], nargs="?", default="show")
    cfg.add_argument("name", nargs="?", choices=[s.name for s in config.SETTINGS])
    cfg.add_argument("value", nargs="?")
    cfg.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HDRedrawError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted. / 已中断。", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
