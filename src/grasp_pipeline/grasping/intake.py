"""Which detections a grasp planner may act on: the checks between a detections message and a plan.

A detections array comes with a stamp and a frame. Before anything is planned it must be recent
(not older than ``max_age_s``) and not from the future (a clock ahead of the planner's by more than
``future_tolerance_s`` makes every age look fresh), expressed in the camera optical frame the
planner's extrinsics are for (or in the robot base frame, which the extrinsics turn into the camera
frame), and each detection must name an object of the catalog: a label the catalog does not know
has no size to plan a grasp with and is never a pick target. What remains is capped to the
``max_detections`` best of the wanted label, so the work per message is bounded whatever arrives.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass, field

import numpy as np

from grasp_pipeline.perception.detector import Detection


@dataclass(frozen=True)
class IntakeRules:
    """``camera_frame``: frame id of the camera optical frame ``camera_pose_base`` (4x4, camera ->
    robot base) is calibrated for; ``base_frame``: the robot base's frame id; ``max_age_s`` and
    ``future_tolerance_s`` in seconds; ``max_detections``: detections kept per message (best
    first)."""

    camera_frame: str
    base_frame: str
    camera_pose_base: np.ndarray
    max_age_s: float = 2.0
    future_tolerance_s: float = 0.5
    max_detections: int = 5


@dataclass
class Intake:
    """``detections``: the wanted ones in the camera optical frame, best score first (empty when
    refused, then ``reason`` says why); ``age_s``: the message's age (s, >= 0 when accepted);
    ``unknown``: labels seen that the catalog does not know (ignored); ``dropped``: wanted
    detections left out by the ``max_detections`` cap; ``bad_input``: the message itself is
    unusable (its stamp or frame), not merely without the wanted object."""

    detections: list[Detection]
    reason: str
    age_s: float
    unknown: list[str] = field(default_factory=list)
    dropped: int = 0
    bad_input: bool = False


def check_stamp(age_s: float, rules: IntakeRules) -> str:
    """'' when a message ``age_s`` seconds old (negative: stamped in the future) may be used,
    else the reason it may not."""
    if not np.isfinite(age_s):
        return f"detections stamp gives a non-finite age ({age_s})"
    if age_s < -rules.future_tolerance_s:
        return (
            f"detections stamped {-age_s:.2f} s in the future (tolerance "
            f"{rules.future_tolerance_s} s): is the publisher's clock ahead of the planner's?"
        )
    if age_s > rules.max_age_s:
        return f"stale detections: {age_s:.2f} s old (max_age_s = {rules.max_age_s})"
    return ""


def to_camera_frame(
    detections: Sequence[Detection], frame_id: str, rules: IntakeRules
) -> tuple[list[Detection], str]:
    """``detections`` (stated in ``frame_id``) in the camera optical frame, or ([], reason) when
    ``frame_id`` is neither the camera frame nor the robot base frame."""
    if frame_id == rules.camera_frame:
        return list(detections), ""
    if frame_id == rules.base_frame and rules.base_frame:
        T_cb = np.linalg.inv(np.asarray(rules.camera_pose_base, dtype=float))  # base -> camera
        return [_transformed(d, T_cb) for d in detections], ""
    shown = repr(frame_id) if frame_id else "'' (no frame_id)"
    return [], (
        f"detections are in frame {shown}, not in the camera optical frame "
        f"'{rules.camera_frame}' this planner is calibrated for (nor in the robot base frame "
        f"'{rules.base_frame}'); transform them first"
    )


def _transformed(det: Detection, T: np.ndarray) -> Detection:
    R, t = T[:3, :3], T[:3, 3]
    axis = None if det.grasp_axis is None else R @ np.asarray(det.grasp_axis, dtype=float)
    return Detection(
        det.label,
        det.score,
        det.pixel,
        R @ np.asarray(det.point, dtype=float) + t,
        T @ np.asarray(det.pose, dtype=float),
        axis,
        det.pose_is_full_6d,
        dict(det.extras),
    )


def screen(
    detections: Sequence[Detection],
    frame_id: str,
    age_s: float,
    target: str,
    catalog: Container[str],
    rules: IntakeRules,
) -> Intake:
    """The detections of ``target`` ('' = any known object) a planner may use, from a message
    stamped ``age_s`` seconds ago in ``frame_id``; see the module docstring for the checks."""
    why = check_stamp(age_s, rules)
    if why:
        return Intake([], why, age_s, bad_input=True)
    dets, why = to_camera_frame(detections, frame_id, rules)
    if why:
        return Intake([], why, age_s, bad_input=True)
    unknown = sorted({d.label for d in dets if d.label not in catalog})
    known = [d for d in dets if d.label in catalog]
    wanted = sorted((d for d in known if not target or d.label == target), key=lambda d: -d.score)
    if not wanted:
        if target:
            seen = sorted({d.label for d in known}) or "nothing"
            why = f"{target} not among the newest detections (saw {seen})"
        else:
            why = "no catalog object among the newest detections"
        if unknown:
            why += f"; ignored unknown labels {unknown} (not in the object catalog)"
        return Intake([], why, age_s, unknown)
    kept = wanted[: rules.max_detections]
    return Intake(kept, "", max(age_s, 0.0), unknown, len(wanted) - len(kept))
