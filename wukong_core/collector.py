"""Python's cyclic garbage collector, paused while Wukong builds a render.

Load and render build ~50 objects per spec that form no reference cycles, and a long-lived
instance keeps ~10 more per spec in its caches; the collector re-scanned them all again and
again (a quarter of an offline render of 10,000 specs, bench P2; a fifth of a warm webhook on
10,000 specs, bench P4-10k). Reference counting still frees garbage while it is paused.

The collector is the process's, and a threaded server renders several deliveries at once:
so the pause is counted, and the collector resumes when the last render that found it
running ends (even on error). A process that runs without it keeps it that way.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # renders running that will resume the collector


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector paused for this block, and for as long as another render holds it."""
    global _holders
    with _lock:
        holds = _holders > 0 or gc.isenabled()
        if holds:
            _holders += 1
            gc.disable()
    try:
        yield
    finally:
        if holds:
            with _lock:
                _holders -= 1
                if _holders == 0:
                    gc.enable()
