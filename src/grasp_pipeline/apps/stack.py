"""A stack of nodes with given parameters, composed in this process or as separate processes.

Composed: every node in one rclpy context of its own, spun by one MultiThreadedExecutor in a
background thread. Separate: ``python -m grasp_pipeline.ros.<node>`` per node
(:class:`grasp_pipeline.ros.node_process.NodeProcess`). Either way they only meet over DDS.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any


class NodeStack:
    """``nodes``: ``{executable name: {param: value}}`` (see
    :func:`grasp_pipeline.apps.compose.node_class`), in ``domain_id``."""

    def __init__(
        self,
        nodes: Mapping[str, Mapping[str, Any]],
        separate: bool,
        domain_id: int,
        threads: int = 10,
    ) -> None:
        self.nodes = {k: dict(v) for k, v in nodes.items()}
        self.separate = separate
        self.domain_id = domain_id
        self.threads = threads
        self.procs: dict = {}
        self._ctx = None
        self._executor = None
        self._spinner = None
        self._composed: list = []

    def start(self) -> NodeStack:
        if self.separate:
            from grasp_pipeline.ros.node_process import NodeProcess

            for name, params in self.nodes.items():
                self.procs[name] = NodeProcess(name, params, self.domain_id).start()
            return self
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter

        from grasp_pipeline.apps.compose import node_class

        self._ctx = rclpy.Context()
        from rclpy.signals import SignalHandlerOptions

        # Ctrl-C must reach the demo loop (which stops the node processes), not just end contexts
        rclpy.init(
            context=self._ctx,
            domain_id=self.domain_id,
            signal_handler_options=SignalHandlerOptions.NO,
        )
        try:
            for name, params in self.nodes.items():
                overrides = [Parameter(k, value=v) for k, v in params.items() if v != []]
                self._composed.append(
                    node_class(name)(context=self._ctx, parameter_overrides=overrides)
                )
        except Exception:
            self.close()
            raise
        self._executor = MultiThreadedExecutor(num_threads=self.threads, context=self._ctx)
        for n in self._composed:
            self._executor.add_node(n)
        self._spinner = threading.Thread(target=self._spin, name="node_stack", daemon=True)
        self._spinner.start()
        return self

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:
            if self._ctx is not None and self._ctx.ok():
                raise

    def dead(self) -> str | None:
        """The log of a node process that exited (separate only), else None."""
        for name, proc in self.procs.items():
            if not proc.alive():
                return f"{name} exited ({proc.proc.returncode}):\n{proc.log[-3000:]}"
        return None

    def wait_ready(self, text: dict[str, str], timeout: float) -> None:
        """Separate: wait until each named node logged its text (RuntimeError with the log if not)."""
        for name, t in text.items():
            proc = self.procs.get(name)
            if proc is not None and not proc.wait_for_log(t, timeout):
                raise RuntimeError(f"{name} did not come up:\n{proc.log[-3000:]}")

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.procs = {}
        if self._executor is not None:
            self._executor.shutdown(timeout_sec=5)
        if self._spinner is not None:
            self._spinner.join(10)
        for n in self._composed:
            n.destroy_node()
        self._composed = []
        if self._ctx is not None:
            self._ctx.try_shutdown()
            self._ctx = None

    def __enter__(self) -> NodeStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
