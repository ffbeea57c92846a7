"""The one ``main()`` every node executable shares (the ros2/examples pattern)."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node


def spin_node(
    make_node: Callable[[], Node], name: str, args: list[str] | None = None, threads: int = 1
) -> int:
    """Create the node, spin it until shutdown, destroy it; 2 when a parameter is refused.
    ``threads`` > 1 spins a MultiThreadedExecutor (for nodes whose callback groups may overlap).

    A refused parameter (ValueError / FileNotFoundError from the node's constructor) is logged
    as one fatal line naming it, without a traceback.
    """
    try:
        with rclpy.init(args=args):
            try:
                node = make_node()
            except (ValueError, FileNotFoundError) as exc:
                rclpy.logging.get_logger(name).fatal(str(exc))
                return 2
            try:
                if threads > 1:
                    executor = MultiThreadedExecutor(num_threads=threads)
                    executor.add_node(node)
                    executor.spin()
                else:
                    rclpy.spin(node)
            except Exception:
                # A shutdown (SIGINT/SIGTERM) can invalidate the context while the executor is
                # building its wait set or a callback is publishing; that is a clean stop, any
                # error while the context is still valid is not.
                if rclpy.ok():
                    raise
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0
