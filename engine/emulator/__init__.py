"""A local emulator of the HD Redraw and HiDream img2svg services.

It serves both APIs over real HTTP on 127.0.0.1 with accounts and balances,
tasks that take time, the 3-second status cache, realistic result images, EPS
and SVG vectors, and injectable faults (HTTP errors, hangs, dropped or
truncated answers), so the whole client stack can be tested and demonstrated
without a network, a key or spending money.

    with Emulator(processing_time=0.5) as emu:
        requests.post(emu.base_url + "/api/submit_task", data={"user_key": emu.user_key, ...}, files=...)

`serve()` runs it in the foreground for manual use (`python -m hdredraw.engine.emulator`).
"""

from .server import Emulator, serve

__all__ = ["Emulator", "serve"]
