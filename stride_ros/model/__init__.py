# SPDX-License-Identifier: MIT
"""The motion prior: the network, its files, its ONNX export, inference backends and training."""

BACKEND_KINDS = ("torch", "onnx", "tensorrt")  # what `Backend` builds; "auto" picks one of them
