"""Writing a finished task's files to disk exactly as the service sent them (no re-encoding), never over
another file.

Users pay per result, so the output side follows three rules:

* every input gets names of its own: the inputs' folder structure is kept under the output folder, and two
  inputs that would share a name (``x.png`` and ``x.jpg`` side by side) carry their extension in it;
* an existing file is never replaced unless the caller says so (``--overwrite``): the same bytes are left
  as they are, different bytes go next to it under a new name, and the command line checks for such
  conflicts before anything is sent;
* a file appears whole or not at all (written to a temporary name, then moved into place).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from . import codecs
from .errors import ValidationError
from .progress import TaskResult

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "eps": ".eps", "svg": ".svg"}
# Suffixes after a result's stem: the first image has none, then _2, _3 ..., and the extra kinds.
_FAMILY = r"(?:_(?:\d+|grid|1x|vector|prompt))?\.[A-Za-z0-9]+"
# What "-o" is refused as when it does not exist yet: it names a file, not a folder.
FILE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".eps", ".svg",
                           ".txt", ".json", ".pdf"})


@dataclass(frozen=True)
class Written:
    """One file of a result and what happened to it: written, replaced, unchanged (already there with the
    same bytes) or renamed (another file had the name; this one was written next to it)."""

    path: Path
    action: str
    instead_of: Path | None = None


def result_files(result: TaskResult, stem: str) -> list[tuple[str, bytes]]:
    """The file names (with extensions) and bytes a result is saved as."""
    files: list[tuple[str, bytes]] = []

    def put(name: str, data: bytes) -> None:
        files.append((name + EXTENSIONS.get(codecs.sniff(data) or "", ".bin"), data))

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
        files.append((f"{stem}_prompt.txt", result.prompt.encode("utf-8")))
    return files


def save_result(result: TaskResult, out_dir: Path, stem: str, overwrite: bool = False) -> list[Path]:
    """Write every file of a result (see `write_result`); the paths that hold it now."""
    return [w.path for w in write_result(result, out_dir, stem, overwrite)]


def write_result(result: TaskResult, out_dir: Path, stem: str, overwrite: bool = False) -> list[Written]:
    """Write every file of a result as the service sent it; an existing file is replaced only with
    `overwrite`, otherwise kept (same bytes) or left alone with the new file written beside it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_file(out_dir / name, data, overwrite) for name, data in result_files(result, stem)]


def write_file(path: Path, data: bytes, overwrite: bool = False) -> Written:
    """Put `data` at `path` whole (temporary file, then moved), never replacing another file unasked."""
    if not overwrite and _same(path, data):
        return Written(path, "unchanged")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    try:
        if overwrite:
            existed = path.exists()
            os.replace(tmp, path)
            return Written(path, "replaced" if existed else "written")
        target, n = path, 1
        while True:
            if _place(tmp, target):
                return Written(target, "written") if target == path else Written(target, "renamed", path)
            if _same(target, data):
                return Written(target, "unchanged") if target == path else Written(target, "renamed", path)
            n += 1
            target = path.with_name(f"{path.stem}-{n}{path.suffix}")
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _place(tmp: Path, target: Path) -> bool:
    """Give `tmp`'s content the name `target` unless that name is taken (False then)."""
    try:
        os.link(tmp, target)  # atomic and never replaces
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links (FAT, some network shares)
        if target.exists():
            return False
        os.replace(tmp, target)
        return True


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


# --------------------------------------------------------------------------- the command line's plan

def check_output_dir(out: Path) -> Path:
    """Make sure results can be written to `out` before anything is paid for; create it if needed.

    A path that is a file, or does not exist and looks like a file name (``-o result.png``), is refused:
    results are several files (image, grid, vector, prompt) and always go into a folder.
    """
    if out.exists() and not out.is_dir():
        raise ValidationError(
            f"The output {out} is a file; -o takes a folder (results can be several files). Nothing was sent.",
            f"输出路径 {out} 是一个文件;-o 需要文件夹(结果可能包含多个文件)。未发送请求。")
    if not out.exists() and out.suffix.lower() in FILE_SUFFIXES:
        raise ValidationError(
            f"-o {out} looks like a file name, but -o takes a folder (results can be several files). Use a "
            f"folder, e.g. -o {out.with_suffix('')}. Nothing was sent.",
            f"-o {out} 看起来像文件名,但 -o 需要文件夹(结果可能包含多个文件)。请改用文件夹,例如 -o "
            f"{out.with_suffix('')}。未发送请求。")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".hdredraw-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValidationError(
            f"Cannot write to the output folder {out} ({exc.strerror or exc}). Nothing was sent.",
            f"无法写入输出文件夹 {out}({exc.strerror or exc})。未发送请求。") from None
    return out


def output_names(inputs: Sequence[Path], suffix: str) -> list[PurePath]:
    """For each input, the result stem relative to the output folder: unique per input.

    The folder structure below the inputs' common folder is kept (``d1/x.png`` and ``d2/x.png`` become
    ``d1/x_op`` and ``d2/x_op``); inputs in one folder that share a name but not an extension keep the
    extension in the name (``x_png_op``, ``x_jpg_op``); names are compared case-insensitively, as Windows
    and macOS do.
    """
    folders = _relative_folders(inputs)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(inputs):
        groups.setdefault((str(folders[i]).casefold(), p.stem.casefold()), []).append(i)
    names: list[PurePath] = [PurePath()] * len(inputs)
    taken: set[str] = set()
    for members in groups.values():
        for i in members:
            p = inputs[i]
            stem = p.stem if len(members) == 1 else f"{p.stem}_{p.suffix.lstrip('.').lower() or 'noext'}"
            candidate, n = folders[i] / f"{stem}_{suffix}", 1
            while str(candidate).casefold() in taken:  # x.PNG beside x.png on a case-sensitive disk
                n += 1
                candidate = folders[i] / f"{stem}-{n}_{suffix}"
            taken.add(str(candidate).casefold())
            names[i] = candidate
    return names


def _relative_folders(inputs: Sequence[Path]) -> list[PurePath]:
    parents = [p.resolve().parent for p in inputs]
    try:
        base: Path | None = Path(os.path.commonpath([str(p) for p in parents])) if parents else None
    except ValueError:  # different drives (Windows)
        base = None
    out: list[PurePath] = []
    for parent in parents:
        if base is not None:
            out.append(PurePath(parent.relative_to(base)))
        else:
            drive = (parent.drive or "root").replace(":", "").strip("\\/") or "root"
            out.append(PurePath(drive) / parent.relative_to(parent.anchor))
    return out


def existing_family(folder: Path, stem: str, listing: Iterable[str] | None = None) -> list[Path]:
    """Files already in `folder` that a result saved under `stem` would be named as."""
    pattern = re.compile(re.escape(stem) + _FAMILY + r"\Z", re.IGNORECASE)
    try:
        names = list(listing) if listing is not None else os.listdir(folder)
    except OSError:
        return []
    return sorted(folder / n for n in names if pattern.match(n))


def conflicts(folder: Path, stem: str, expected: list[tuple[str, bytes]] | None,
              listing: Iterable[str] | None = None) -> list[Path]:
    """Existing files that saving this result would have to replace.

    With the result known (`expected`), files that already hold exactly its bytes are no conflict (a re-run);
    with it unknown (a task still to run), every file of its family is.
    """
    found = existing_family(folder, stem, listing)
    if expected is None:
        return found
    want = dict(expected)
    return [p for p in found if p.name not in want or not _same(p, want[p.name])]
