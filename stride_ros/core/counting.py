# SPDX-License-Identifier: MIT
"""Drops counted by reason, each reason logged once: how every part of the project reports input it
could not use, so a log never floods and diagnostics still show every count."""
from __future__ import annotations

from collections import Counter
from typing import Callable


class DropCounter:
    """`note(reason, detail)` counts a drop; the first of each reason is passed to `warn` with its detail."""

    def __init__(self, warn: Callable[[str], None], template: str = "{reason}: {detail} (logged once; counted)"):
        self.counts: Counter[str] = Counter()
        self._logged: set[str] = set()
        self._warn = warn
        self._template = template

    def note(self, reason: str, detail: str, n: int = 1) -> None:
        self.counts[reason] += n
        if reason not in self._logged:
            self._logged.add(reason)
            self._warn(self._template.format(reason=reason, detail=detail))

    def add(self, counts: dict[str, int]) -> None:
        """Counts made elsewhere (already logged there)."""
        self.counts.update(counts)
