# SPDX-License-Identifier: MIT
"""MediaPipe's native start-up chatter kept off the user's terminal, everything else let through.

MediaPipe 0.10.21 and its TFLite runtime write to file descriptor 2 from C++ when a graph is built
and when each model first runs ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", absl
warnings about feedback tensors and NORM_RECT). No environment variable reaches them (absl ignores
GLOG_minloglevel and TF_CPP_MIN_LOG_LEVEL), so while a graph starts up the descriptor itself is
pointed at a temporary file; afterwards the known notices are dropped and any other line (an error,
or a line another thread wrote meanwhile) is written to stderr, late but not lost.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

# informational lines from TFLite and absl/glog (I = info, W = warning); errors (E, F) always pass. Each is
# removed to the end of its line, also where it follows other text without a newline (a progress bar's \r line)
NOISE = (
    re.compile(r"INFO: Created TensorFlow Lite [^\n]*delegate[^\n]*\n?"),
    re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\n?"),
    re.compile(r"(?<![\w])[IW]\d{4} [\d:.]+ +\d+ [\w.]+\.(cc|h):\d+\] [^\n]*\n?"),
)


def is_noise(line: str) -> bool:
    return any(p.match(line) for p in NOISE)


def without_noise(text: str) -> str:
    for p in NOISE:
        text = p.sub("", text)
    return text


def quiet_env() -> None:
    """Set before mediapipe is imported: the libraries that do read these (glog, TensorFlow) stay quiet."""
    for k, v in (("GLOG_minloglevel", "2"), ("TF_CPP_MIN_LOG_LEVEL", "2")):
        os.environ.setdefault(k, v)


@contextmanager
def native_notices_filtered() -> Iterator[None]:
    """Within: native writes to fd 2 are held; on exit, everything but the known notices is written."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreter): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = without_noise(held.read().decode(errors="replace"))
            if kept.strip():
                sys.stderr.write(kept)
                sys.stderr.flush()
