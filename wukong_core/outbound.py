"""Outbound HTTP over urllib3, as every edge makes it: through the proxy the environment names,
and within a deadline for the whole call.

urllib3 reads no proxy variable itself (requests and dulwich do), and its read timeout bounds
only the wait *between* two packets ("the maximum amount of time to wait between consecutive
read operations", urllib3's `Timeout`): a server that sends a byte a second holds a call for as
long as it likes. `read_by(response, deadline)` makes every read of a response end by the
deadline instead. urllib3 is imported only when a call is made.
"""

from __future__ import annotations

import math
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

_CHUNK = 1 << 16


def pool_for(url: str, **settings: Any) -> Any:
    """A urllib3 pool manager for `url`: through the proxy of HTTPS_PROXY / HTTP_PROXY (and
    their lower-case forms) unless NO_PROXY exempts the host."""
    import urllib3

    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, **settings)
    return urllib3.PoolManager(**settings)


def read_by(response: Any, deadline: float) -> Callable[..., bytes]:
    """`response.read`, bounded as a whole by `deadline` (time.monotonic; math.inf: by the
    read timeout alone); a late read raises urllib3's ReadTimeoutError, as a slow packet would.

    It reads with `read1` (at most one receive each) and gives the socket no more than the time
    left before each receive, so no loop of small receives can outlast the deadline.
    """
    import urllib3.exceptions

    def read(amt: int | None = None, decode_content: bool | None = None) -> bytes:
        chunks: list[bytes] = []
        wanted = amt if amt is not None and amt >= 0 else None
        got = 0
        while wanted is None or got < wanted:
            left = deadline - time.monotonic()
            if left <= 0:
                raise urllib3.exceptions.ReadTimeoutError(None, "", "the call ran out of time")  # type: ignore[arg-type]
            sock = getattr(response.connection, "sock", None)
            if sock is not None and left < (sock.gettimeout() or math.inf):
                sock.settimeout(left)
            size = _CHUNK if wanted is None else min(_CHUNK, wanted - got)
            chunk = response.read1(size, decode_content=decode_content)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    return read
