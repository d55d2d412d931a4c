"""A per-token rate limit on writes: a token bucket per token prefix, in this process.

Each collector process keeps its own buckets, so behind a load balancer a token gets the
configured rate from every process it reaches. Reads are never limited.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import falcon

from collector.errors import TooManyRequests

log = logging.getLogger("collector.ratelimit")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Buckets kept before the full (idle) ones are forgotten; bounds memory under many tokens.
MAX_BUCKETS = 10_000


class TokenBuckets:
    """Token buckets refilled at ``rate`` per second up to ``burst``; thread-safe."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``; return 0 if allowed, else the seconds until one is free."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                self._forget_idle(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) <= MAX_BUCKETS:
            return
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class WriteRateLimit:
    """Falcon middleware answering 429 with ``Retry-After`` when a token writes too fast.

    It runs after :class:`collector.middleware.Authentication`, so only valid tokens have
    buckets and a caller cannot drain another token's bucket by naming its prefix.
    """

    def __init__(self, buckets: TokenBuckets) -> None:
        self.buckets = buckets

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict
    ) -> None:
        if req.method not in WRITE_METHODS:
            return
        token = req.context.get("token")
        if token is None:
            return  # a public resource: nothing to key on
        wait = self.buckets.take(token.prefix)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            log.warning(
                "429 Too Many Requests: token %s exceeded %g writes/s on %s %s; Retry-After %d",
                token.prefix, self.buckets.rate, req.method, req.path, seconds,
            )  # fmt: skip
            raise TooManyRequests(
                f"Too many writes with this token: the limit is {self.buckets.rate:g} per second "
                f"(bursts of {self.buckets.burst:g}); retry after {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
