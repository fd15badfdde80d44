"""The `hdredraw` command: demo, run, fetch, tasks, render-svg, emulator, config.

Options of `hdredraw run OPERATION` are generated from the operation specs, so `--help` always matches
what the service accepts.  The batch command itself lives in `cli_run`.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import config, errors, specs
from .errors import HDRedrawError
from .text import Text, language

EMULATOR_KEY, EMULATOR_TOKEN = "emulator-key", "emulator-token"

# --------------------------------------------------------------------------- commands


def _add_field_option(parser: argparse.ArgumentParser, f: specs.Field) -> None:
    lang = language()
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


def journaled_client():  # noqa: ANN201 - jobs is imported lazily (the HTTP stack)
    """A client with the journal (reuse, resume, kept results) at the configured place."""
    from .jobs import Client
    from .journal import open_journal

    settings = config.load()
    return Client(settings, journal=open_journal(settings))


def cmd_run(args: argparse.Namespace) -> int:
    from .cli_run import cmd_run as run

    return run(args)


def cmd_tasks(args: argparse.Namespace) -> int:
    from .journal import describe, describe_accounts, open_journal

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
    """A task's results again by id, free: the journal knows which service a task of ours belongs to."""
    from .console import TerminalProgress
    from .result_files import check_output_dir, write_result

    task_id = specs.check_task_id(args.task_id)
    out = check_output_dir(Path(args.output))
    client = journaled_client()
    service = args.service
    if service is None:
        entry = client.journal.by_task_id(task_id) if client.journal is not None else None
        service = entry.service if entry is not None else specs.HDREDRAW
    with TerminalProgress([task_id]) as progress:
        try:
            result = client.fetch(task_id, service=service, on_progress=lambda p: progress(0, p))
        except errors.TaskNotFound as exc:
            if args.service is not None or service != specs.HDREDRAW:
                raise
            raise errors.TaskNotFound(
                exc.en + " If it is a HiDream img2svg task, add --service hidream.",
                exc.zh + "如果这是 HiDream img2svg 任务,请加 --service hidream。", task_id=exc.task_id,
                upstream=exc.upstream, service=exc.service) from None
    for w in write_result(result, out, f"task_{task_id}"):
        print(w.path if w.action != "renamed" else f"{w.path} ({w.instead_of} exists and was kept)")
    return 0


def cmd_render_svg(args: argparse.Namespace) -> int:
    """SVG files to PNG, locally (what the Render SVG node does): sanitized first, nothing is fetched."""
    from . import codecs, svgrender
    from .result_files import check_output_dir, write_file

    out = check_output_dir(Path(args.output))
    for name in args.inputs:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise errors.ValidationError(f"Cannot read {path} ({exc.strerror or exc}).",
                                         f"无法读取 {path}({exc.strerror or exc})。") from None
        pixels = svgrender.render(data, args.width, args.height, args.background or None)
        written = write_file(out / f"{path.stem}.png", codecs.encode_png(pixels), args.overwrite)
        print(f"{path} -> {written.path} ({pixels.shape[1]}×{pixels.shape[0]})")
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator import serve

    serve(port=args.port, processing_time=args.processing_time, status_cache=args.status_cache,
          user_key=args.user_key, hidream_token=args.token, remaining_count=args.remaining_count,
          remaining_money=args.remaining_money, quiet=args.quiet)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.action == "path":
        print(config.config_path())
    elif args.action == "set":
        if not args.name or args.value is None:
            raise errors.ValidationError("Usage: hdredraw config set NAME VALUE", "用法:hdredraw config set 名称 值")
        path = config.save({args.name: args.value})
        print(f"saved {args.name} to {path} (owner-only)")
        _warn_stale_keys()
    elif args.action == "unset":
        config.save({args.name: None})
    else:
        print(json.dumps(config.status(), ensure_ascii=False, indent=2))
    return 0


def _warn_stale_keys() -> None:
    """After `config set`: say at once if a stored key was entered for another address than the base URL now
    in effect (it will not be sent until it is entered again)."""
    try:
        shown = config.status()
    except HDRedrawError:
        return
    zh = errors.preferred_language() == "zh"
    for entry in shown.values():
        if entry.get("stale"):
            print(entry["error_zh"] if zh else entry["error"], file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.output) if args.output else None)


def _add_run_options(p: argparse.ArgumentParser, op: specs.Operation) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="Image files, folders (every image in them) or glob patterns. Any format Pillow reads "
                        "(PNG, JPEG, WebP, TIFF, BMP, GIF, ...); the first frame is used, EXIF orientation applied, "
                        "colours converted to sRGB.")
    p.add_argument("-o", "--output", default=".", metavar="FOLDER",
                   help="Output folder (default: the current folder). The inputs' folder structure is kept; "
                        "results are named INPUT_" + op.id + ".png (and _grid, _1x, _vector, _prompt.txt).")
    p.add_argument("-r", "--recursive", action="store_true", help="Search folders (and ** in globs) recursively.")
    p.add_argument("--overwrite", action="store_true",
                   help="Replace existing output files (without it, an existing file is never replaced and a run "
                        "that would replace one stops before anything is sent).")
    p.add_argument("--dry-run", action="store_true",
                   help="Print what would be submitted, reused or resumed, and the estimated cost; send nothing.")
    p.add_argument("--json", action="store_true",
                   help="One JSON record per input on stdout (and a summary record), for scripts.")
    p.add_argument("--plain", action="store_true", help="Plain progress lines even on a terminal.")
    p.add_argument("--max-new-tasks", type=int, default=None, metavar="N",
                   help="Spend guard for this command: at most N new paid tasks (default: HDREDRAW_MAX_NEW_TASKS, "
                        "16). Reused and resumed tasks are free and not counted.")
    p.add_argument("--concurrency", type=int, default=None, metavar="N",
                   help="Inputs in progress at once in this command (default: twice the service concurrency "
                        "setting); the service's own limit applies either way.")
    p.add_argument("--skip-bad-inputs", action="store_true",
                   help="Go on without input files that cannot be read (by default the run stops before sending "
                        "anything).")
    p.add_argument("--variation", type=int, default=0, help="Same inputs reuse the recorded result (no "
                   "charge); another number pays for a fresh one.")
    for f in op.params:
        _add_field_option(p, f)
    p.set_defaults(func=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    lang = language()
    parser = argparse.ArgumentParser(
        prog="hdredraw", description="HD Redraw and HiDream img2svg from the command line (ComfyUI-HDRedraw).")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="Run a full pipeline against the built-in emulator (no key, no network).")
    demo.add_argument("-o", "--output", help="Folder for results (default: a new folder under ./hdredraw-demo).")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser(
        "run", help="Run an operation on image files or folders against the configured service.",
        description="Run one operation on many images. Each operation's options: hdredraw run OPERATION --help. "
                    "Task ids are kept in the journal: the same command again reuses finished results and resumes "
                    "running tasks at no charge. Fetching a task by id is `hdredraw fetch`.")
    run_sub = run.add_subparsers(dest="operation", required=True, metavar="OPERATION", title="operations")
    for op in specs.paid_operations():
        p = run_sub.add_parser(op.id, help=f"{op.title.get(lang)} ({op.service})", description=op.description.get(lang))
        _add_run_options(p, op)

    fetch = sub.add_parser("fetch", help="Download a finished task's results again (no charge).",
                           description="Download a task's results again by its id, at no charge. The service is "
                                       "taken from the journal for tasks this machine submitted; otherwise HD "
                                       "Redraw, unless --service hidream.")
    fetch.add_argument("task_id")
    fetch.add_argument("--service", choices=[specs.HDREDRAW, specs.HIDREAM], default=None,
                       help="Which service the task belongs to (default: from the journal, else hdredraw).")
    fetch.add_argument("-o", "--output", default=".", metavar="FOLDER")
    fetch.set_defaults(func=cmd_fetch)

    tasks = sub.add_parser("tasks", help="List recent tasks from the journal (operation, status, age, balance).")
    tasks.add_argument("-n", "--limit", type=int, default=20)
    tasks.set_defaults(func=cmd_tasks)

    render = sub.add_parser("render-svg", help="Render SVG files to PNG locally (scripts and external references "
                                               "removed; nothing is fetched).")
    render.add_argument("inputs", nargs="+", metavar="SVG")
    render.add_argument("-o", "--output", default=".", metavar="FOLDER")
    render.add_argument("--width", type=int, default=0, help="Width in pixels (0: the SVG's own size).")
    render.add_argument("--height", type=int, default=0, help="Height in pixels (0: keep the aspect ratio).")
    render.add_argument("--background", default="", help="Background colour, e.g. #ffffff (default: transparent).")
    render.add_argument("--overwrite", action="store_true", help="Replace existing PNG files.")
    render.set_defaults(func=cmd_render_svg)

    emu = sub.add_parser(
        "emulator", help="Serve the built-in emulator of both services on 127.0.0.1.",
        description=f"A local emulator of HD Redraw and HiDream img2svg (127.0.0.1 only). It accepts the HD Redraw "
                    f"user key '{EMULATOR_KEY}' and the HiDream token '{EMULATOR_TOKEN}' (change them with "
                    "--user-key and --token). Point the pack at it with: HDREDRAW_BASE_URL=http://127.0.0.1:PORT "
                    f"HDREDRAW_USER_KEY={EMULATOR_KEY} HIDREAM_BASE_URL=http://127.0.0.1:PORT "
                    f"HIDREAM_API_TOKEN={EMULATOR_TOKEN}")
    emu.add_argument("--port", type=int, default=8765, help="Port on 127.0.0.1 (default 8765; 0 picks a free one).")
    emu.add_argument("--processing-time", type=float, default=5.0, help="Seconds each task takes (default 5).")
    emu.add_argument("--status-cache", type=float, default=3.0, help="Status cache in seconds (default 3; 0 off).")
    emu.add_argument("--user-key", default=EMULATOR_KEY, help=f"HD Redraw user key it accepts (default {EMULATOR_KEY}).")
    emu.add_argument("--token", default=EMULATOR_TOKEN, help=f"HiDream token it accepts (default {EMULATOR_TOKEN}).")
    emu.add_argument("--remaining-count", type=int, default=100, help="Tasks on the account (default 100).")
    emu.add_argument("--remaining-money", type=int, default=300, help="Money on the account (default 300).")
    emu.add_argument("--quiet", action="store_true", help="No request log lines.")
    emu.set_defaults(func=cmd_emulator)

    cfg = sub.add_parser("config", help="Show or change settings (keys are stored owner-only, never shown).")
    cfg.add_argument("action", choices=["show", "set", "unset", "path"], nargs="?", default="show")
    cfg.add_argument("name", nargs="?", choices=[s.name for s in config.SETTINGS])
    cfg.add_argument("value", nargs="?")
    cfg.set_defaults(func=cmd_config)
    return parser


def _robust_streams() -> None:
    """A console or file that cannot show a character (Chinese text on a legacy code page) gets '?' instead
    of a UnicodeEncodeError after a task was paid for."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _robust_streams()
    errors.set_caller("cli")
    from PIL import Image

    # Image sizes are checked with a message of our own; Pillow's warning would only add noise.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    args = build_parser().parse_args(argv)
    try:
        if args.func is cmd_run:
            from .cli_run import Run

            run = Run(args, argv)
            run.plan()
            return run.dry_run() if args.dry_run else run.run()
        return int(args.func(args) or 0)
    except HDRedrawError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        stopped = Text("Stopped. Task ids received so far are in the journal: run the same command again to resume "
                       "them at no charge.", "已停止。已收到的任务ID都记录在任务记录中:再次运行相同命令即可免费继续。")
        first = language()
        print(stopped.get(first) + "\n" + stopped.get("en" if first == "zh" else "zh"), file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
