# SPDX-License-Identifier: MIT
"""stride_ros: STRIDE motion-prior refinement of 3D human skeletons, with a ROS 2 shell."""

__version__ = "0.1.0"
