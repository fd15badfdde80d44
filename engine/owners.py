"""Who holds a journal lease, and whether that holder is still alive.

A lease names its holder as host (plus, on Linux, its boot and process namespace), process id and a random
part.  A run that finds a lease held by a process on this host that no longer exists takes it over at once
instead of waiting for it to expire (after a crash, the next run would otherwise wait out the lease).  Holders in this very process are known
exactly; processes elsewhere are probed without signals on Windows (OpenProcess), with `kill(pid, 0)`
elsewhere; when a probe cannot tell, the holder counts as alive and the lease simply expires.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import uuid


def _host() -> str:
    """This machine's name in holder ids, made unique per process namespace on Linux.

    Containers often share a host name (or all say "localhost") while their process ids overlap; with the
    kernel's boot id and the pid namespace in the name, a holder only counts as "on this host" when its pid
    really means the same process here.
    """
    name = socket.gethostname().replace(":", "_").replace("~", "_") or "localhost"
    if not sys.platform.startswith("linux"):
        return name
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return name
    return f"{name}~{hashlib.sha256(f'{boot}/{namespace}'.encode()).hexdigest()[:10]}"


_HOST = _host()
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
