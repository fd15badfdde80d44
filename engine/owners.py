"""Who holds a journal lease, and whether that holder is still alive.

A lease names its holder as host, process id and a random part.  A run that finds a lease held by a
process on this host that no longer exists takes it over at once instead of waiting for it to expire
(after a crash, the next run would otherwise wait out the lease).  Holders in this very process are known
exactly; processes elsewhere are probed without signals on Windows (OpenProcess), with `kill(pid, 0)`
elsewhere; when a probe cannot tell, the holder counts as alive and the lease simply expires.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import uuid

_HOST = socket.gethostname().replace(":", "_") or "localhost"
_live: set[str] = set()
_lock = threading.Lock()


def new_owner() -> str:
    """An id for one journal connection in this process: host:pid:random."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def new_holder(owner: str) -> str:
    """An id for one lease holder (one run) under `owner`; alive until `forget` is called."""
    holder = f"{owner}:{uuid.uuid4().hex[:8]}"
    with _lock:
        _live.add(holder)
    return holder


def forget(holder: str) -> None:
    with _lock:
        _live.discard(holder)


def is_gone(holder: str) -> bool:
    """True only when `holder` certainly no longer runs (same host, and its process or run has ended)."""
    parts = holder.split(":")
    if len(parts) < 3 or parts[0] != _HOST:
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        with _lock:
            return holder not in _live
    return pid_alive(pid) is False


def pid_alive(pid: int) -> bool | None:
    """Whether a process exists; None when this platform cannot tell."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: existence check only, nothing is delivered
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    return True


def _windows_pid_alive(pid: int) -> bool | None:
    try:
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return True if ctypes.get_last_error() == 5 else False  # access denied: it exists
        try:
            code = wintypes.DWORD()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return None
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    except Exception:  # noqa: BLE001 - no probe: let the lease expire instead
        return None
