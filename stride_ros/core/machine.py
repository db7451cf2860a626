# SPDX-License-Identifier: MIT
"""What machine a measurement ran on: every reported figure names it."""
from __future__ import annotations

import os
import platform


def machine() -> str:
    """CPU model, core count, GPU and torch version, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"
