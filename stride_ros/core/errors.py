# SPDX-License-Identifier: MIT
"""Errors that the command line turns into a one-line reason and a non-zero exit."""


class InputError(Exception):
    """Bad user input: a missing, empty, truncated or malformed file, a wrong shape."""


class CheckpointError(InputError):
    """A model file that is missing, truncated, corrupt or does not match the configuration."""
