# SPDX-License-Identifier: MIT
"""How both nodes start and stop: params files checked first, flag-only signal handlers, one line on error.

rclpy's own signal handlers shut the context down under a constructor that is still running when a
signal arrives early, which ends in a traceback; here SIGINT/SIGTERM only set a flag the spin loop
reads. Start-up failures are one line on stderr (exit 2 for bad input, 1 for anything else).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Callable, Protocol

from ..core.errors import InputError
from .params import node_sections


class ShutdownNode(Protocol):
    def shutdown(self) -> None: ...
    def destroy_node(self) -> None: ...


def check_params_files(args: list[str], node_name: str) -> None:
    """Every --params-file must be readable YAML that addresses this node: ROS would otherwise fail
    with a traceback (malformed) or ignore it without a word (keyed by another node's name)."""
    import yaml
    for i, a in enumerate(args):
        if a != "--params-file" or i + 1 >= len(args):
            continue
        path = args[i + 1]
        try:
            with open(path) as f:
                doc = yaml.safe_load(f)
        except OSError as e:
            raise InputError(f"params file {path}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise InputError(f"params file {path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(doc, dict) or not node_sections(doc, node_name):
            names = ", ".join(map(str, doc)) if isinstance(doc, dict) else type(doc).__name__
            print(f"{node_name}: warning: params file {path} configures no parameter of node {node_name} "
                  f"(it names: {names}); its values are ignored", file=sys.stderr)


def spin(node_name: str, make_node: Callable[[], ShutdownNode], args: list[str] | None = None) -> int:
    """Build the node and spin it until SIGINT/SIGTERM; the exit status of the process."""
    import rclpy  # here, not at import: the demo, soak and video demo use stop_children without ROS
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions
    args = args if args is not None else sys.argv
    try:
        check_params_files(args, node_name)
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except InputError as e:
        print(f"{node_name}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - rcl rejects malformed ROS arguments with its own errors
        print(f"{node_name}: error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    node = None
    code = 0
    try:
        executor = SingleThreadedExecutor()
        node = make_node()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (InputError, ValueError) as e:
        print(f"{node_name}: error: {e}", file=sys.stderr)
        code = 2
    except Exception as e:  # noqa: BLE001 - start-up failures are one line, not a traceback
        print(f"{node_name}: error: {type(e).__name__}: {e}", file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def stop_children(procs) -> None:
    """SIGINT each child still running (a node's clean exit), SIGKILL its process group after 10 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
