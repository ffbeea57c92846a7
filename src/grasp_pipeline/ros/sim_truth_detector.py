"""The oracle detector: the simulator node's ground truth as a detector, inside a detector node.

Measures the grasping stack on its own (perfect perception): a :class:`SimTruthDetector` holds the
newest ``sim/objects`` (true 6D poses) or ``sim/objects/pickup`` (true pickup point + closing
axis, what a segmentation network reports) array the simulator node publishes with each camera
frame, and answers ``detect`` with the objects whose point lies in the frame's image. It runs in
an ordinary :class:`grasp_pipeline.ros.detector_node.DetectorNode` (same topics, synchronisation,
filtering and outputs as the trained detectors); only where its answers come from differs.
Simulator only: a real cell has no ground truth.

Executable: ``python -m grasp_pipeline.ros.sim_truth_detector --ros-args -p truth:=pose|point``
(node name ``detector_node``).
"""

from __future__ import annotations

import sys
import threading

from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.params import Param, declare_parameters
from grasp_pipeline.ros.qos import RESULTS
from grasp_pipeline.ros.spin import spin_node

TRUTH_TOPICS = {"pose": "sim/objects", "point": "sim/objects/pickup"}
PARAMS = (
    Param(
        "truth",
        "pose",
        "ground truth answered: 'pose' (true 6D poses) or 'point' (true pickup point + axis)",
        choices=tuple(TRUTH_TOPICS),
        read_only=True,
    ),
)


class SimTruthDetector:
    """A :class:`grasp_pipeline.perception.detector.Detector` answering from the simulator's
    ground truth; :meth:`attach` it to the node that runs it."""

    def __init__(self) -> None:
        from grasp_pipeline.objects import load_catalog

        self.labels = list(load_catalog().names)
        self._latest = None
        self._lock = threading.Lock()

    def attach(self, node, style: str = "pose") -> None:
        """Subscribe ``node`` to the ground truth of ``style`` ("pose" | "point")."""
        from vision_msgs.msg import Detection3DArray

        node.create_subscription(Detection3DArray, TRUTH_TOPICS[style], self._on_truth, RESULTS)

    def _on_truth(self, msg) -> None:
        with self._lock:
            self._latest = msg

    def detect(self, rgb, depth, camera, targets=None) -> list:
        """The true objects (camera frame) whose point projects into the image of ``camera``."""
        with self._lock:
            msg = self._latest
        if msg is None:
            return []
        out = []
        for d in cv.msg_to_detections(msg, camera):
            if targets is not None and d.label not in targets:
                continue
            u, v = d.pixel
            if d.point[2] <= 0 or not (0 <= u < camera.width and 0 <= v < camera.height):
                continue
            out.append(d)
        return out


def make_node(**node_kwargs):
    """A detector node answering from the simulator's ground truth (``truth`` parameter)."""
    from grasp_pipeline.ros.detector_node import DetectorNode

    detector = SimTruthDetector()
    node = DetectorNode(detector=detector, **node_kwargs)
    p = declare_parameters(node, PARAMS)
    detector.attach(node, p.truth)
    node.get_logger().info(f"oracle detector: simulator ground truth ({TRUTH_TOPICS[p.truth]})")
    return node


def main(args: list[str] | None = None) -> int:
    return spin_node(make_node, "detector_node", args)


if __name__ == "__main__":
    sys.exit(main())
