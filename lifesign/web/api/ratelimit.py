"""A token bucket per API token, in the serving process.

Each call takes one unit; the bucket refills continuously at `rate_per_second` up to `burst`.
An empty bucket answers how long until one unit is back (the 429's Retry-After). In process,
not in the database: the check runs on every call and must cost microseconds; one uvicorn
process serves a city's API (several processes would each allow the rate — say so when
scaling out).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    units: float
    updated: float


class RateLimiter:
    """Token buckets keyed by API token id; thread-safe (endpoints run in a thread pool)."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: int) -> float:
        """Take one unit for `key`: 0.0 when allowed, else the seconds to wait (> 0)."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.units = min(
                float(self.burst), bucket.units + (now - bucket.updated) * self.rate_per_second
            )
            bucket.updated = now
            if bucket.units >= 1.0:
                bucket.units -= 1.0
                return 0.0
            return (1.0 - bucket.units) / self.rate_per_second


def retry_after_header(wait_seconds: float) -> str:
    """Retry-After in whole seconds (HTTP allows no fraction), at least 1."""
    return str(max(1, math.ceil(wait_seconds)))
