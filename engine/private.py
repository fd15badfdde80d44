"""Owner-only folders and files, on every platform.

Why a module of its own: the config file (keys) and the data folder (journal, kept results) both need folders
that no other local user can read or write into, whatever the process umask, and the code must still run on
Windows, where POSIX modes do not apply.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create `path` (and missing parents) readable by the owner only (0700) whatever the umask; return it.

    Why: the config file holds keys and the data folder holds results; a folder others can write lets them
    swap files in (a umask of 000 made 0777 folders).  Folders are created one by one with mode 0700, so none
    is ever wider, then chmod'ed to exactly 0700 (a strict umask may have removed the owner's bits).  An
    existing folder that is group- or world-writable loses those write bits.  On Windows, POSIX modes do not
    apply (the profile's ACLs do) and nothing is chmod'ed.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        if os.name == "posix":
            os.chmod(folder, 0o700)
    if not path.is_dir():
        raise ConfigError(f"{path} exists but is not a folder.", f"{path} 已存在,但不是文件夹。")
    if os.name == "posix" and not missing:
        st = os.stat(path)
        if st.st_uid == os.geteuid() and st.st_mode & 0o022:
            try:
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o022)
            except OSError:
                pass
    return path


def write_private_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write `data` as JSON to `path` atomically (temp file + rename), the file 0600 and its folder 0700:
    a reader never sees half a file and no other user can read the keys in it."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=str(path.parent))
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=True, indent=2)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if os.name == "posix":
        os.chmod(path, 0o600)
