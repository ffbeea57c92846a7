"""Start a node as its own OS process and watch its log (used by the benchmark and the node tests).

The process gets :func:`grasp_pipeline.ros.environment.ros_env` (localhost discovery, the chosen
domain, the Fast DDS SHM profile) and its parameters as ``--ros-args -p name:=value``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import yaml

from grasp_pipeline.ros.environment import ros_env

NODES = ("camera_node", "sim_node", "sim_truth_detector", "detector_node", "grasp_planner_node")


def _arg(value: Any) -> str:
    # ROS parses -p values as YAML: dump lists / bools / strings the way it reads them back
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


# How long a node may take to stop after SIGINT before it is killed: a node finishing a planning
# step or an inference on a loaded 2-core machine took more than 5 s.
STOP_GRACE_S = 15.0


class NodeProcess:
    """``python -m grasp_pipeline.ros.<node>`` in ``namespace`` with ``params``; log lines kept.

    Use as a context manager; on exit the node gets SIGINT, then SIGKILL after ``STOP_GRACE_S``.
    """

    def __init__(
        self,
        node: str,
        params: Mapping[str, Any] | None = None,
        domain_id: int = 42,
        namespace: str = "",
        params_file: str | None = None,
    ) -> None:
        if node not in NODES:
            raise ValueError(f"node must be one of {NODES}, got {node!r}")
        cmd = [sys.executable, "-m", f"grasp_pipeline.ros.{node}", "--ros-args"]
        if namespace:
            cmd += ["-r", f"__ns:={namespace}"]
        if params_file:
            cmd += ["--params-file", params_file]
        for k, v in (params or {}).items():
            cmd += ["-p", f"{k}:={_arg(v)}"]
        self.cmd = cmd
        self.env = ros_env(domain_id)
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> NodeProcess:
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for_log(self, text: str, timeout: float) -> bool:
        """True once ``text`` appears in the log; False on timeout or when the process exits."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if text in self.log:
                return True
            if not self.alive():
                time.sleep(0.2)  # let the reader drain the last lines
                return text in self.log
            time.sleep(0.05)
        return False

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            import signal

            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(2)
        return self.proc.returncode

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Probe:
    """An rclpy node in this process, in its own context, for talking to node processes.

    ``with Probe(domain_id) as probe:`` then ``probe.node.create_subscription(...)`` and
    ``probe.spin_until(lambda: ..., timeout)``. The Fast DDS profile and discovery range must be
    in ``os.environ`` before the first participant of the process (see ``apply_ros_env``).
    """

    def __init__(self, domain_id: int, name: str = "probe") -> None:
        self.domain_id, self.name = domain_id, name
        self.context = None
        self.node = None
        self._executor = None

    def __enter__(self) -> Probe:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=self.domain_id)
        self.node = rclpy.create_node(self.name, context=self.context)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        return self

    def spin_until(self, done, timeout: float, watch: NodeProcess | None = None) -> bool:
        """Spin until ``done()`` is true (returns True) or ``timeout`` s pass (False).

        Raises RuntimeError with the node's log when the watched process dies meanwhile.
        """
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if done():
                return True
            self._executor.spin_once(timeout_sec=0.05)
            if watch is not None and not watch.alive():
                time.sleep(0.2)
                raise RuntimeError(f"node process exited ({watch.proc.returncode}):\n{watch.log}")
        return bool(done())

    def call(self, client, request, timeout: float):
        """Call a service and wait for the response (None on timeout)."""
        if not client.wait_for_service(timeout_sec=timeout):
            return None
        future = client.call_async(request)
        self.spin_until(future.done, timeout)
        return future.result() if future.done() else None

    def __exit__(self, *exc) -> None:
        if self.node is not None:
            self._executor.remove_node(self.node)
            self.node.destroy_node()
        if self.context is not None:
            self.context.try_shutdown()
