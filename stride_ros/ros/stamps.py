# SPDX-License-Identifier: MIT
"""Header stamps <-> float seconds: the one conversion the node, bags, the demo and tests share."""
from __future__ import annotations

import math
from typing import Any


def stamp_of(msg_or_header: Any) -> float:
    """Seconds of a message's header stamp (or of a header, or of a builtin_interfaces/Time)."""
    h = getattr(msg_or_header, "header", msg_or_header)
    t = getattr(h, "stamp", h)
    return t.sec + t.nanosec * 1e-9


def sec_nanosec(stamp: float) -> tuple[int, int]:
    """Float seconds -> (sec, nanosec) with nanosec in [0, 1e9) (rounding can carry into sec)."""
    sec = math.floor(stamp)
    ns = int(round((stamp - sec) * 1e9))
    if ns >= 1_000_000_000:
        sec, ns = sec + 1, ns - 1_000_000_000
    return int(sec), ns
