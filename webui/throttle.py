"""A sign-in throttle: attempts allowed per key (a client address, an account) in a sliding
window, refused with 429 and Retry-After. In memory, per process: it slows a guesser down;
durable lockouts, where an app has them, are its own."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from webui.errors import TooManyRequests

# Keys kept before idle ones are dropped, so a scan of addresses cannot grow it without bound.
_MAX_KEYS = 10_000


@dataclass
class LoginThrottle:
    """At most `limit` attempts per key in any `window_s` seconds."""

    limit: int
    window_s: float
    monotonic: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, *keys: str) -> None:
        """Count one attempt against every key, or raise TooManyRequests (counting nothing)."""
        now = self.monotonic()
        with self._lock:
            waits = []
            for key in keys:
                seen = self._seen.setdefault(key, deque())
                while seen and seen[0] <= now - self.window_s:
                    seen.popleft()
                if len(seen) >= self.limit:
                    waits.append(seen[0] + self.window_s - now)
            if waits:
                seconds = max(1, int(max(waits) + 0.999))
                raise TooManyRequests(
                    f"Too many sign-in attempts; try again in {seconds} s",
                    details={"retry_after_s": seconds},
                )
            for key in keys:
                self._seen[key].append(now)
            if len(self._seen) > _MAX_KEYS:
                horizon = now - self.window_s
                for key in [k for k, v in self._seen.items() if not v or v[-1] <= horizon]:
                    del self._seen[key]
