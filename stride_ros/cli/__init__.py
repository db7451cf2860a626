# SPDX-License-Identifier: MIT
"""`stride-ros`: the command line (one module per verb; main.py wires them)."""
from .main import main

__all__ = ["main"]
