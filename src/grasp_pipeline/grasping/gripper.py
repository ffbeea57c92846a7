"""Parallel-jaw grippers: stroke, finger geometry and the width check for a grasp.

Every gripper is described in its TCP (tool centre point) frame: z points out of the palm along the
approach direction (into the object), y is the direction in which the fingers move (the closing
axis), x = y cross z. The TCP sits between the finger tips' pads, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GripperSpec:
    """A parallel-jaw gripper.

    ``max_opening_m`` is the full stroke (distance between the finger pads fully open);
    ``finger_length_m`` how far the pads reach up from the TCP towards the palm (the deepest an
    object edge may sit inside the hand); ``tip_below_tcp_m`` how far the finger tips stick out
    beyond the TCP; ``clearance_m`` the gap kept on each side of the object
    when the hand is opened before closing; ``finger_width_m`` (along x) and
    ``finger_thickness_m`` (along the closing axis) are a finger pad's footprint, which must land
    on free space beside the object. ``pad_above_tip_m``: how far above the finger tips the flat
    of the pads begins (a rounded tip holds nothing): the pads must overlap a thin part's side.
    """

    name: str
    max_opening_m: float
    finger_length_m: float
    clearance_m: float = 0.008
    min_width_m: float = 0.002
    tip_below_tcp_m: float = 0.0  # finger tips reach this far beyond the TCP along the approach
    pad_above_tip_m: float = 0.0
    finger_width_m: float = 0.020
    finger_thickness_m: float = 0.010

    def __post_init__(self) -> None:
        if not self.max_opening_m > 0:
            raise ValueError(f"gripper {self.name}: max_opening_m must be > 0")
        if not self.finger_length_m > 0:
            raise ValueError(f"gripper {self.name}: finger_length_m must be > 0")

    def check_width(self, width_m: float) -> tuple[bool, str]:
        """Can the hand close on an object ``width_m`` wide (metres) across its fingers?"""
        if not np.isfinite(width_m) or width_m <= 0:
            return False, f"object width {width_m!r} m is not a positive number"
        if width_m < self.min_width_m:
            return False, f"object width {width_m * 1e3:.1f} mm is below what {self.name} can hold"
        if width_m > self.max_opening_m - 0.002:
            return False, (
                f"object width {width_m * 1e3:.1f} mm does not fit {self.name} "
                f"(stroke {self.max_opening_m * 1e3:.1f} mm)"
            )
        return True, "ok"

    def pre_grasp_opening(self, width_m: float, clearance_m: float | None = None) -> float:
        """Opening (metres, finger-to-finger) to approach an object ``width_m`` wide with,
        ``clearance_m`` on each side (default: the hand's ``clearance_m``)."""
        side = self.clearance_m if clearance_m is None else clearance_m
        return min(self.max_opening_m, width_m + 2.0 * side)


# Franka Hand: 0-40 mm per finger, pads ~ 0.05 m long below the hand body.
# Panda hand: the finger tips of pybullet_data's collision hull reach 12.8 mm beyond the TCP and
# round off over their last 2.9 mm (ray casts across the opened fingers: the inner faces are flat
# from 20 mm above the TCP to 10 mm below it, and no face is met 12 mm below it).
PANDA_HAND = GripperSpec(
    "panda_hand",
    max_opening_m=0.080,
    finger_length_m=0.045,
    tip_below_tcp_m=0.0128,
    pad_above_tip_m=0.0029,
)
# KUKA youBot stock gripper: 0-11.5 mm per finger.
YOUBOT_STOCK = GripperSpec(
    "youbot_stock",
    max_opening_m=0.023,
    finger_length_m=0.035,
    clearance_m=0.0,
    tip_below_tcp_m=0.005,
    finger_width_m=0.015,
    finger_thickness_m=0.008,
)
# Wide fingers as RoboCup@Work teams build them (~66 mm total stroke).
YOUBOT_WIDE = GripperSpec(
    "youbot_wide",
    max_opening_m=0.066,
    finger_length_m=0.035,
    clearance_m=0.006,
    tip_below_tcp_m=0.005,
    finger_width_m=0.015,
    finger_thickness_m=0.008,
)

GRIPPERS: dict[str, GripperSpec] = {g.name: g for g in (PANDA_HAND, YOUBOT_STOCK, YOUBOT_WIDE)}


def gripper_by_name(name: str) -> GripperSpec:
    """The gripper called ``name``; ValueError listing the known names otherwise."""
    try:
        return GRIPPERS[name]
    except KeyError:
        raise ValueError(f"unknown gripper {name!r}; known: {sorted(GRIPPERS)}") from None
