"""What the planner node's ``pick`` service answers when the arm was stopped on its way down and
backed off: the part may have moved, so a new call plans from new detections (and passes over the
grasp that stalled). One home for the wording, for the node that says it and the clients that act
on it; no ROS imports.
"""

from __future__ import annotations

REPLAN_HINT = "call pick again to re-plan from new detections"


def asks_replan(message: str) -> bool:
    """Whether a ``pick`` answer asks to be called again (the arm backed off)."""
    return REPLAN_HINT in message
