"""Writes the youBot arm + gripper URDF from the constants in :mod:`.youbot`.

The committed files ``urdf/youbot.urdf`` (stock gripper, 0-11.5 mm per finger) and
``urdf/youbot_wide_gripper.urdf`` (0-33 mm per finger) are this module's output; regenerate them with
``python -m grasp_pipeline.grasping.robots.youbot_urdf`` (a test checks they are up to date).
Collision shapes are boxes and cylinders around each link; inertias are those of the boxes.
"""

from __future__ import annotations

from grasp_pipeline.grasping.robots import youbot as yb

_FINGER_STROKE = {"stock": 0.0115, "wide": 0.033}
_GRIPPER_MASS = 0.199  # palm (kg); fingers 0.010 each


def _inertia(mass: float, size: tuple[float, float, float]) -> str:
    x, y, z = size
    ixx, iyy, izz = (mass / 12.0 * (b * b + c * c) for b, c in ((y, z), (x, z), (x, y)))
    return (
        f'    <inertial><mass value="{mass:.4f}"/>'
        f'<inertia ixx="{ixx:.3e}" ixy="0" ixz="0" iyy="{iyy:.3e}" iyz="0" izz="{izz:.3e}"/>'
        "</inertial>\n"
    )


def _box_link(name, mass, size, xyz, color="0.9 0.5 0.1 1", inertial_xyz=None) -> str:
    s = " ".join(f"{v:.4f}" for v in size)
    o = " ".join(f"{v:.4f}" for v in xyz)
    return (
        f'  <link name="{name}">\n'
        + _inertia(mass, size).replace("<inertial>", f'<inertial><origin xyz="{o}"/>')
        + f'    <visual><origin xyz="{o}"/><geometry><box size="{s}"/></geometry>'
        f'<material name="{name}_m"><color rgba="{color}"/></material></visual>\n'
        f'    <collision><origin xyz="{o}"/><geometry><box size="{s}"/></geometry></collision>\n'
        "  </link>\n"
    )


def _joint(name, kind, parent, child, xyz, axis="0 0 1", lower=0.0, upper=0.0, effort=1.0) -> str:
    o = " ".join(f"{v:.4f}" for v in xyz)
    lim = (
        f'    <limit lower="{lower:.5f}" upper="{upper:.5f}" effort="{effort}" velocity="1.5"/>\n'
        if kind != "fixed"
        else ""
    )
    ax = f'    <axis xyz="{axis}"/>\n' if kind != "fixed" else ""
    return (
        f'  <joint name="{name}" type="{kind}">\n    <parent link="{parent}"/>\n'
        f'    <child link="{child}"/>\n    <origin xyz="{o}" rpy="0 0 0"/>\n{ax}{lim}'
        '    <dynamics damping="0.5"/>\n  </joint>\n'
    )


def youbot_urdf(gripper: str = "wide") -> str:
    """URDF text of the youBot arm with the ``stock`` or ``wide`` gripper."""
    if gripper not in _FINGER_STROKE:
        raise ValueError(f"youBot gripper must be 'stock' or 'wide', got {gripper!r}")
    stroke = _FINGER_STROKE[gripper]
    m = yb.LINK_MASS
    parts = [f'<?xml version="1.0"?>\n<robot name="youbot_arm_{gripper}">\n']
    lo, hi = yb.BASE_BOX
    size = tuple(b - a for a, b in zip(lo, hi, strict=True))
    centre = tuple((a + b) / 2 for a, b in zip(lo, hi, strict=True))
    parts.append(_box_link("arm_link_0", m[0], size, centre, "0.2 0.2 0.2 1"))
    parts.append(_box_link("arm_link_1", m[1], (0.08, 0.08, 0.02), (0.02, 0.0, 0.005)))
    parts.append(_box_link("arm_link_2", m[2], (0.05, 0.06, 0.155), (0.0, 0.0, 0.0775)))
    parts.append(_box_link("arm_link_3", m[3], (0.045, 0.05, 0.135), (0.0, 0.0, 0.0675)))
    parts.append(_box_link("arm_link_4", m[4], (0.04, 0.045, 0.10), (0.0, 0.0, 0.06)))
    parts.append(_box_link("arm_link_5", m[5], (0.04, 0.04, 0.02), (0.0, 0.0, 0.01)))
    palm_w = 2 * stroke + 0.03
    parts.append(
        _box_link(
            "gripper_palm_link",
            _GRIPPER_MASS,
            (0.03, palm_w, yb.PALM_LEN - 0.02),
            (0.0, 0.0, (yb.PALM_LEN - 0.02) / 2),
            "0.3 0.3 0.3 1",
        )
    )
    fz = yb.FINGER_LEN / 2
    parts.append(
        _box_link("gripper_finger_link_l", 0.01, (0.02, 0.008, yb.FINGER_LEN), (0, 0.004, fz))
    )
    parts.append(
        _box_link("gripper_finger_link_r", 0.01, (0.02, 0.008, yb.FINGER_LEN), (0, -0.004, fz))
    )
    parts.append('  <link name="tcp">\n' + _inertia(0.001, (0.001, 0.001, 0.001)) + "  </link>\n")
    axes = ["0 0 1", "0 1 0", "0 1 0", "0 1 0", "0 0 1"]
    xyz = [yb.J1_XYZ, yb.J2_XYZ, (0, 0, yb.A2), (0, 0, yb.A3), yb.J5_XYZ]
    for i in range(5):
        parts.append(
            _joint(
                yb.JOINT_NAMES[i],
                "revolute",
                f"arm_link_{i}",
                f"arm_link_{i + 1}",
                xyz[i],
                axes[i],
                yb.LOWER[i],
                yb.UPPER[i],
                yb.EFFORT[i],
            )
        )
    parts.append(
        _joint("gripper_palm_joint", "fixed", "arm_link_5", "gripper_palm_link", (0, 0, 0.02))
    )
    root = (0.0, 0.0, yb.PALM_LEN - 0.02)
    parts.append(
        _joint(
            "gripper_finger_joint_l",
            "prismatic",
            "gripper_palm_link",
            "gripper_finger_link_l",
            root,
            "0 1 0",
            0.0,
            stroke,
            30.0,
        )
    )
    parts.append(
        _joint(
            "gripper_finger_joint_r",
            "prismatic",
            "gripper_palm_link",
            "gripper_finger_link_r",
            root,
            "0 -1 0",
            0.0,
            stroke,
            30.0,
        )
    )
    parts.append(_joint("tcp_joint", "fixed", "arm_link_5", "tcp", (0, 0, yb.TCP_D)))
    parts.append("</robot>\n")
    return "".join(parts)


def write_urdfs() -> None:
    """Regenerate both committed URDF files."""
    yb.URDF_DIR.mkdir(parents=True, exist_ok=True)
    for g in ("stock", "wide"):
        yb.youbot_urdf_path(g).write_text(youbot_urdf(g))


if __name__ == "__main__":
    write_urdfs()
    print(f"wrote {[str(yb.youbot_urdf_path(g)) for g in ('stock', 'wide')]}")
