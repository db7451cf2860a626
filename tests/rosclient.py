"""Test-side ROS 2 helpers: an isolated domain, the node as a child process, a client node."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
_counter = [0]


def fresh_domain() -> int:
    """A ROS_DOMAIN_ID no other test (or parallel test run) uses: pid-derived, 1..200."""
    _counter[0] += 1
    return 1 + (os.getpid() * 7 + _counter[0] * 13) % 200


def ros_env(domain: int) -> dict:
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               FASTDDS_BUILTIN_TRANSPORTS="UDPv4", PYTHONUNBUFFERED="1")
    return env


class NodeProcess:
    """`stride-ros node` in its own process group; stop() sends a signal and waits."""

    def __init__(self, domain: int, ros_args: list[str], log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        cmd = [sys.executable, "-m", "stride_ros.cli", "node", "--ros-args", *ros_args]
        self.proc = subprocess.Popen(cmd, env=ros_env(domain), stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=str(REPO))

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self, sig=signal.SIGINT, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Client:
    """An rclpy node in its own context and domain, with helpers to publish and collect."""

    def __init__(self, domain: int, name: str = "test_client"):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list] = {}
        self.subscriptions: dict[str, object] = {}

    def subscribe(self, msg_type, topic: str, qos=10):
        self.received[topic] = []
        def keep(m):
            self.received[topic].append((time.perf_counter(), m))
        self.subscriptions[topic] = self.node.create_subscription(msg_type, topic, keep, qos)

    def spin_until(self, cond, timeout: float) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if cond():
                return True
        return cond()

    def spin_for(self, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def make_input_cloud(stamp: float, persons: list[tuple[int, np.ndarray, np.ndarray]], frame_id: str = "camera"):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import PointCloud2, PointField
    from std_msgs.msg import Header

    from stride_ros.ros.cloud import make_cloud
    from stride_ros.ros.stamps import sec_nanosec
    sec, ns = sec_nanosec(stamp)
    header = Header(stamp=Time(sec=sec, nanosec=ns), frame_id=frame_id)
    return make_cloud(PointCloud2, PointField, header, persons)


def stamp_of(msg) -> float:
    from stride_ros.ros.stamps import stamp_of as _stamp_of
    return _stamp_of(msg)


def wait_for_subscriber(client: Client, publisher, timeout: float = 20.0,
                        answers: tuple[str, ...] = ("/human_pose_refined",)) -> None:
    """Until the node reads our publisher and its publishers on `answers` (topics this client
    subscribed to) have matched our readers: a volatile writer drops what it publishes before
    the match, and a loaded machine can take more than a second to discover (the first frame lost)."""
    assert client.spin_until(lambda: publisher.get_subscription_count() > 0, timeout), \
        "the node never subscribed (did it start?)"
    subs = [client.subscriptions[t] for t in answers if t in client.subscriptions]
    assert client.spin_until(lambda: all(s.get_publisher_count() > 0 for s in subs), timeout), \
        f"the node's publishers on {list(answers)} never matched ours"
