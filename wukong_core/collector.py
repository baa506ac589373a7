"""Python's cyclic garbage collector, paused while Wukong builds a render.

Load and render build ~50 objects per spec that form no reference cycles, and a long-lived
instance keeps ~10 more per spec in its caches; the collector re-scanned them all again and
again (a quarter of an offline render of 10,000 specs, bench P2; a fifth of a warm webhook on
10,000 specs, bench P4-10k). Reference counting still frees garbage while it is paused.

The collector is the process's, and a threaded server renders several deliveries at once:
so the pause is counted, and the collector resumes when the last render that found it
running ends (even on error). Renders that keep overlapping never let the count reach zero,
so a render that ends after the pause has lasted MAX_PAUSE_S collects once, for every
thread's cycles (a failed fetch's traceback can hold a whole in-memory repository). A process
that runs without the collector keeps it that way.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PAUSE_S = 30.0  # half a delivery's deadline

_lock = threading.Lock()
_holders = 0  # renders running that will resume the collector
_paused_at = 0.0  # when the collector last ran (or the pause began)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector paused for this block, and for as long as another render holds it."""
    global _holders, _paused_at
    with _lock:
        holds = _holders > 0 or gc.isenabled()
        if holds:
            if _holders == 0:
                _paused_at = time.monotonic()
            _holders += 1
            gc.disable()
    try:
        yield
    finally:
        collect = False
        if holds:
            with _lock:
                _holders -= 1
                if _holders == 0:
                    gc.enable()
                elif time.monotonic() - _paused_at > MAX_PAUSE_S:
                    collect, _paused_at = True, time.monotonic()
        if collect:
            gc.collect()
