"""Logging events that an attacker can repeat thousands of times a second (slow clients, refused
connections, a full disk) at most once per interval per kind, with how many were left out."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

LOG_INTERVAL_S = 60.0


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval_s: float = LOG_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval_s, self.clock = logger, interval_s, clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args) -> bool:
        """Log message (a %-format with args) unless kind was logged within the interval; True if logged."""
        with self._lock:
            now = self.clock()
            last = self._last.get(kind)
            if last is not None and now - last < self.interval_s:
                self._left_out[kind] = self._left_out.get(kind, 0) + 1
                return False
            self._last[kind] = now
            left_out = self._left_out.pop(kind, 0)
        suffix = f" ({left_out} more like it in the last {self.interval_s:.0f} s not logged)" if left_out else ""
        self.logger.warning(message + suffix, *args)
        return True


log_once = RateLimitedLog(logging.getLogger("faceswap_v3.server"))
