"""Names of the robot's ROS interfaces, shared by the simulator node (server) and the planner
(client), chosen like the real setups so that the same planner talks to either.

* Franka: franka_ros2 runs a ros2_control joint trajectory controller (``fr3_arm_controller`` for
  the FR3, ``panda_arm_controller`` for the Panda this cell simulates) and the Franka Hand's
  ``franka_gripper/gripper_action`` (control_msgs/GripperCommand).
* youBot: ros2_control's ``arm_controller`` and a GripperActionController named
  ``gripper_controller`` (``gripper_controller/gripper_cmd``).

GripperCommand ``position`` is the finger-to-finger gap in metres (goal and result).
"""

from __future__ import annotations

ARM_CONTROLLERS = {"franka": "panda_arm_controller", "youbot": "arm_controller"}
GRIPPER_ACTIONS = {
    "franka": "franka_gripper/gripper_action",
    "youbot": "gripper_controller/gripper_cmd",
}


def trajectory_action(robot: str, controller: str = "") -> str:
    """FollowJointTrajectory action name: ``<controller>/follow_joint_trajectory`` ('' = the
    robot's usual controller)."""
    return f"{controller or ARM_CONTROLLERS[robot]}/follow_joint_trajectory"


def gripper_action(robot: str, name: str = "") -> str:
    """GripperCommand action name ('' = the robot's usual one)."""
    return name or GRIPPER_ACTIONS[robot]


def name_ok(v: str) -> str | None:
    """Parameter check: '' or a relative ROS name (letters, digits, '_' and '/')."""
    if v == "":
        return None
    ok = all(c.isalnum() or c in "_/" for c in v) and not v.startswith("/") and "//" not in v
    return None if ok and not v[0].isdigit() else "must be '' or a relative ROS name"
