"""Per-client rate limits: a token bucket per key, so one flooding client cannot starve the others.

In memory on purpose: limits protect a running process and need not survive a restart. The number
of keys is bounded (oldest idle buckets are dropped), so a flood of fresh keys cannot grow memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 50_000


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """`per_minute` requests per key on average, with bursts up to `burst`."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        """A limiter with the given rate; `clock` is monotonic seconds (injectable for tests)."""
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def check(self, key: str) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds to wait before the next one."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            self._buckets.move_to_end(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class Unlimited:
    """The limiter when limits are switched off (BOT_RATE_LIMIT=off, e.g. for benchmarks)."""

    def check(self, key: str) -> float:
        """Always allowed."""
        return 0.0
