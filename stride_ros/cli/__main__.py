# SPDX-License-Identifier: MIT
"""`python -m stride_ros.cli ...` runs the command line."""
import sys

from .main import main

sys.exit(main())
