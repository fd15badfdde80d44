"""`python -m <package>.engine.emulator`: run the emulator in the foreground."""

from __future__ import annotations

import argparse
import sys

from ..errors import HDRedrawError
from .server import serve


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Local HD Redraw / HiDream img2svg emulator (127.0.0.1 only). It accepts "
                                "the user key 'emulator-key' and the HiDream token 'emulator-token' unless "
                                "--user-key / --token say otherwise.")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    p.add_argument("--processing-time", type=float, default=2.0, help="seconds a task takes (default 2)")
    p.add_argument("--status-cache", type=float, default=3.0, help="status cache in seconds, 0 disables")
    p.add_argument("--user-key", default="emulator-key", help="HD Redraw user key it accepts (default emulator-key)")
    p.add_argument("--token", default="emulator-token", help="HiDream bearer token it accepts (default emulator-token)")
    p.add_argument("--remaining-count", type=int, default=100)
    p.add_argument("--remaining-money", type=int, default=300)
    p.add_argument("--quiet", action="store_true", help="no request log lines")
    a = p.parse_args(argv)
    try:
        serve(port=a.port, processing_time=a.processing_time, status_cache=a.status_cache, user_key=a.user_key,
              hidream_token=a.token, remaining_count=a.remaining_count, remaining_money=a.remaining_money,
              quiet=a.quiet)
    except HDRedrawError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
