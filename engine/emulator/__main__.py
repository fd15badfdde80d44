"""`python -m <package>.engine.emulator`: run the emulator in the foreground."""

from __future__ import annotations

import argparse

from .server import serve


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Local HD Redraw / HiDream img2svg emulator (127.0.0.1 only).")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    p.add_argument("--processing-time", type=float, default=2.0, help="seconds a task takes (default 2)")
    p.add_argument("--status-cache", type=float, default=3.0, help="status cache in seconds, 0 disables")
    p.add_argument("--user-key", default="emulator-key")
    p.add_argument("--token", default="emulator-token", help="HiDream bearer token")
    p.add_argument("--remaining-count", type=int, default=100)
    p.add_argument("--remaining-money", type=int, default=300)
    p.add_argument("--quiet", action="store_true", help="no request log lines")
    a = p.parse_args(argv)
    serve(port=a.port, processing_time=a.processing_time, status_cache=a.status_cache, user_key=a.user_key,
          hidream_token=a.token, remaining_count=a.remaining_count, remaining_money=a.remaining_money,
          quiet=a.quiet)


if __name__ == "__main__":
    main()
