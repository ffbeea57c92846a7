"""Camera pose from TF: the static tree composes a chain of transforms (numbers worked by hand),
and over real DDS a /tf_static publisher's 2-link chain base -> camera_link -> optical frame reaches
CameraPoseSource (latched: published before the listener existed), which falls back to the static
extrinsics while TF has no answer."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from grasp_pipeline.ros.environment import claim_domain_id
from grasp_pipeline.ros.tf_lookup import StaticTransforms, transform_to_matrix

DOMAIN = claim_domain_id()
HAS_TF2_ROS = importlib.util.find_spec("tf2_ros") is not None
S = np.sqrt(0.5)
# panda_link0 -> camera_link: 0.5 m ahead, 0.6 m up, yawed +90 deg (camera looks along base +y)
LINK = ((0.5, 0.0, 0.6), (0.0, 0.0, S, S))
# camera_link -> camera_color_optical_frame: the REP 103 optical rotation, colour imager 15 mm left
OPTICAL = ((0.0, 0.015, 0.0), (-0.5, 0.5, -0.5, 0.5))
# by hand: R = Rz(90) @ [[0,0,1],[-1,0,0],[0,-1,0]] = [[1,0,0],[0,0,1],[0,-1,0]];
# t = Rz(90) @ (0, 0.015, 0) + (0.5, 0, 0.6) = (0.485, 0, 0.6)
EXPECTED = np.array(
    [
        [1.0, 0.0, 0.0, 0.485],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, -1.0, 0.0, 0.6],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def chain() -> StaticTransforms:
    tree = StaticTransforms()
    tree.add("panda_link0", "camera_link", transform_to_matrix(*LINK))
    tree.add("/camera_link", "camera_color_optical_frame", transform_to_matrix(*OPTICAL))
    return tree


def test_chain_is_composed() -> None:
    T = chain().lookup("panda_link0", "camera_color_optical_frame")
    np.testing.assert_allclose(T, EXPECTED, atol=1e-9)
    # a point 1 m in front of the camera (optical +z) is 1 m along base +y from the lens
    np.testing.assert_allclose(T @ [0, 0, 1, 1], [0.485, 1.0, 0.6, 1.0], atol=1e-9)


def test_reverse_and_partial_lookups() -> None:
    tree = chain()
    np.testing.assert_allclose(
        tree.lookup("camera_color_optical_frame", "panda_link0"), np.linalg.inv(EXPECTED), atol=1e-9
    )
    np.testing.assert_allclose(
        tree.lookup("camera_link", "camera_color_optical_frame"),
        transform_to_matrix(*OPTICAL),
        atol=1e-12,
    )
    np.testing.assert_allclose(tree.lookup("/panda_link0", "panda_link0"), np.eye(4))
    # siblings: via their common parent
    tree.add("panda_link0", "table", transform_to_matrix((0.2, 0.0, -0.1), (0, 0, 0, 1)))
    np.testing.assert_allclose(
        tree.lookup("table", "camera_link")[:3, 3], [0.3, 0.0, 0.7], atol=1e-12
    )
    assert tree.lookup("panda_link0", "world") is None
    assert tree.frames == {"panda_link0", "camera_link", "camera_color_optical_frame", "table"}


def test_bad_transforms_are_refused() -> None:
    tree = StaticTransforms()
    with pytest.raises(ValueError, match="two different frame ids"):
        tree.add("a", "/a", np.eye(4))
    with pytest.raises(ValueError, match="finite 4x4"):
        tree.add("a", "b", np.full((4, 4), np.nan))
    with pytest.raises(ValueError):
        transform_to_matrix((0, 0, 0), (0, 0, 0, 0))
    with pytest.raises(ValueError, match="3 finite numbers"):
        transform_to_matrix((0, np.inf, 0), (0, 0, 0, 1))


def _tf(parent: str, child: str, pose):
    from geometry_msgs.msg import TransformStamped

    (x, y, z), (qx, qy, qz, qw) = pose
    tf = TransformStamped()
    tf.header.frame_id, tf.child_frame_id = parent, child
    tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = x, y, z
    r = tf.transform.rotation
    r.x, r.y, r.z, r.w = qx, qy, qz, qw
    return tf


@pytest.mark.ros
@pytest.mark.timeout(60)
def test_camera_pose_over_dds_from_a_latched_tf_static() -> None:
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    from grasp_pipeline.ros.environment import apply_ros_env
    from grasp_pipeline.ros.node_process import Probe
    from grasp_pipeline.ros.tf_lookup import CameraPoseSource

    apply_ros_env(DOMAIN)
    static_T = np.eye(4)
    static_T[:3, 3] = [0.5, 0.0, 0.55]
    latched = QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    with Probe(DOMAIN, "tf_publisher") as pub_side, Probe(DOMAIN, "tf_user") as user:
        pub = pub_side.node.create_publisher(TFMessage, "/tf_static", latched)
        # no transform yet: the static extrinsics answer
        cam = CameraPoseSource(
            user.node, "panda_link0", "camera_color_optical_frame", static_T=static_T
        )
        np.testing.assert_allclose(cam.get(), static_T)
        assert cam.source == "static extrinsics"
        # a static broadcaster sends its whole set in one message, latched
        pub.publish(
            TFMessage(
                transforms=[
                    _tf("panda_link0", "camera_link", LINK),
                    _tf("camera_link", "camera_color_optical_frame", OPTICAL),
                ]
            )
        )

        def arrived() -> bool:
            pub_side.spin_until(lambda: False, 0.05)
            return cam.get() is not None and cam.source != "static extrinsics"

        assert user.spin_until(arrived, 20.0), "the /tf_static chain never arrived"
        np.testing.assert_allclose(cam.get(), EXPECTED, atol=1e-6)
        assert cam.source == ("tf2" if HAS_TF2_ROS else "/tf_static")

        # a listener that starts after the publication still gets it (transient local)
        late = CameraPoseSource(user.node, "/panda_link0", "camera_color_optical_frame")
        assert user.spin_until(lambda: late.get() is not None, 20.0), "latched TF not received"
        np.testing.assert_allclose(late.get(), EXPECTED, atol=1e-6)

        # frames TF does not connect, and no extrinsics: None, said once
        lost = CameraPoseSource(user.node, "panda_link0", "other_camera_optical_frame")
        user.spin_until(lambda: False, 0.3)
        assert lost.get() is None and lost.source is None


def test_frame_ids_and_static_pose_are_checked() -> None:
    from grasp_pipeline.ros.tf_lookup import CameraPoseSource

    with pytest.raises(ValueError, match="must be frame ids"):
        CameraPoseSource(None, "/", "camera")
    with pytest.raises(ValueError, match="finite 4x4"):
        CameraPoseSource(None, "base", "camera", static_T=np.zeros((3, 3)))
