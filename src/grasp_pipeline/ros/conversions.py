"""numpy <-> ROS 2 message conversion without cv_bridge.

Images: ``rgb8``, ``bgr8``, ``mono8``, ``16UC1`` (depth in millimetres, the realsense2_camera
convention) and ``32FC1`` (depth in metres). Rows may be padded (``step`` > width * bytes per pixel)
and the data may be big-endian; both are honoured on receive. A message whose encoding, step or
data size does not add up raises ``ValueError`` naming the field.

Detections: :class:`grasp_pipeline.perception.detector.Detection` <-> ``vision_msgs/Detection3D``.
Pose and point are in the camera optical frame (metres), the message frame is the header frame.
Fields of a Detection with no slot in Detection3D are carried by convention:

* ``pose_is_full_6d`` -> the rotational covariance: a small variance on all three rotation axes for
  a full 6-D pose; for a pickup point with only a known yaw about the optical axis, roll and pitch
  get a huge variance (``UNKNOWN_VARIANCE``).
* ``grasp_axis`` is the pose's y axis (the segmentation detector builds the pose that way); on
  receive it is read back from the pose.
* ``pixel`` is recomputed by projecting the point with the camera's intrinsics when they are given.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.perception.detector import Detection
from grasp_pipeline.sources import msg_codec as codec

_NATIVE_BIG = sys.byteorder == "big"

POSITION_VARIANCE_M2 = 0.005**2  # 5 mm standard deviation of a detected point
KNOWN_ROT_VARIANCE = 0.05**2  # ~3 deg
UNKNOWN_VARIANCE = 1.0e6  # "this axis is not estimated" (REP 103-style large variance)


# --------------------------------------------------------------------------------------------
# stamps and headers
def stamp_from_ns(ns: int) -> Time:
    """builtin_interfaces/Time from integer nanoseconds (non-negative)."""
    ns = int(ns)
    if ns < 0:
        raise ValueError(f"stamp must be non-negative, got {ns} ns")
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def stamp_to_ns(stamp: Time) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def duration_from_s(seconds: float) -> Duration:
    """builtin_interfaces/Duration of ``seconds`` (>= 0), to the nearest nanosecond."""
    ns = round(seconds * 1e9)
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def duration_to_s(d: Duration) -> float:
    """Seconds of a builtin_interfaces/Duration."""
    return d.sec + 1e-9 * d.nanosec


def make_header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=stamp_from_ns(stamp_ns), frame_id=frame_id)


# --------------------------------------------------------------------------------------------
# images
def numpy_to_image(
    array: np.ndarray, encoding: str, stamp_ns: int = 0, frame_id: str = ""
) -> Image:
    """sensor_msgs/Image from an (H, W, 3) or (H, W) array of the encoding's dtype.

    The data is written densely (step = width * bytes per pixel) in native byte order.
    """
    h, w, step, data = codec.encode_image(array, encoding)
    msg = Image()
    msg.header = make_header(stamp_ns, frame_id)
    msg.height, msg.width, msg.step = h, w, step
    msg.encoding = codec.canonical_encoding(encoding)
    msg.is_bigendian = int(_NATIVE_BIG)
    msg.data = data  # the rosidl setter turns bytes into array('B') in one C copy
    return msg


def image_to_numpy(msg: Image, expected: Sequence[str] | None = None) -> np.ndarray:
    """Array of an Image: (H, W, 3) for colour, (H, W) for mono/depth, in native byte order.

    ``expected`` restricts the accepted encodings (e.g. ``("16UC1", "32FC1")`` for depth).
    Colour comes back in the message's channel order (use :func:`to_rgb` for RGB).
    Raises ValueError naming the inconsistent field (encoding, width/height, step, data size).
    """
    enc = codec.canonical_encoding(msg.encoding)
    if expected is not None and enc not in {codec.canonical_encoding(e) for e in expected}:
        raise ValueError(f"image encoding {msg.encoding!r} is not one of {list(expected)}")
    return codec.decode_image(
        msg.height, msg.width, enc, msg.step, bool(msg.is_bigendian), msg.data
    )


def to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an rgb8 / bgr8 Image (mono8 is replicated to three channels)."""
    a = image_to_numpy(msg, expected=("rgb8", "bgr8", "mono8"))
    return codec.to_rgb(a, msg.encoding)


def to_depth_u16(msg: Image, depth_scale: float = 0.001) -> np.ndarray:
    """(H, W) uint16 depth in ``depth_scale`` metre units from 16UC1 (mm) or 32FC1 (metres).

    32FC1 NaN / inf / non-positive values become 0 ("no depth").
    """
    a = image_to_numpy(msg, expected=("16UC1", "32FC1"))
    return codec.to_depth_units(a, msg.encoding, depth_scale)


# --------------------------------------------------------------------------------------------
# camera info
def intrinsics_to_camera_info(
    cam: CameraIntrinsics, stamp_ns: int = 0, frame_id: str = ""
) -> CameraInfo:
    """CameraInfo of a rectified, distortion-free pinhole camera (plumb_bob with zero D)."""
    msg = CameraInfo()
    msg.header = make_header(stamp_ns, frame_id)
    msg.width, msg.height = int(cam.width), int(cam.height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [cam.fx, 0.0, cam.cx, 0.0, cam.fy, cam.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [cam.fx, 0.0, cam.cx, 0.0, 0.0, cam.fy, cam.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def camera_info_to_intrinsics(
    msg: CameraInfo, depth_scale: float = 0.001, model: str = "pinhole"
) -> CameraIntrinsics:
    """CameraIntrinsics from the K matrix of a CameraInfo (the image is assumed rectified).

    Raises ValueError for an empty/zero K, non-positive size or non-zero distortion, which this
    pinhole model cannot represent.
    """
    return codec.intrinsics_from_camera_info(msg, depth_scale, model)


# --------------------------------------------------------------------------------------------
# poses
def matrix_to_pose(T: np.ndarray) -> Pose:
    """geometry_msgs/Pose of a 4x4 homogeneous transform (translation in metres)."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ValueError(f"pose must be a finite 4x4 matrix, got shape {T.shape}")
    x, y, z, w = Rotation.from_matrix(T[:3, :3]).as_quat()
    return Pose(
        position=Point(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
        orientation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)),
    )


def pose_to_matrix(pose: Pose) -> np.ndarray:
    """4x4 transform of a geometry_msgs/Pose; raises ValueError for a zero quaternion."""
    q = np.array([pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w])
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"pose orientation is not a valid quaternion: {q.tolist()}")
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q / n).as_matrix()
    T[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return T


def pose_stamped(T: np.ndarray, stamp_ns: int, frame_id: str) -> PoseStamped:
    return PoseStamped(header=make_header(stamp_ns, frame_id), pose=matrix_to_pose(T))


# --------------------------------------------------------------------------------------------
# detections (vision_msgs is imported lazily: it is built into the venv by the set-up)
def _vision_msgs():
    try:
        import vision_msgs.msg as vm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "vision_msgs is not importable; in a ROS install `apt install ros-$ROS_DISTRO-vision-msgs`, "
            "in the venv run `make test` (the set-up builds it from interfaces/vision_msgs)"
        ) from exc
    return vm


def detection_to_msg(det: Detection, index: int = 0):
    """vision_msgs/Detection3D (header left empty) of one Detection; ``id`` = ``label#index``."""
    vm = _vision_msgs()
    pose = matrix_to_pose(det.pose)
    hyp = vm.ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = det.label
    hyp.hypothesis.score = float(det.score)
    hyp.pose.pose = pose
    rot_var = KNOWN_ROT_VARIANCE if det.pose_is_full_6d else UNKNOWN_VARIANCE
    cov = np.zeros((6, 6))
    cov[[0, 1, 2], [0, 1, 2]] = POSITION_VARIANCE_M2
    cov[3, 3] = cov[4, 4] = rot_var
    cov[5, 5] = KNOWN_ROT_VARIANCE  # yaw about the optical axis is estimated by both detectors
    hyp.pose.covariance = cov.reshape(-1).tolist()
    out = vm.Detection3D()
    out.results = [hyp]
    out.bbox.center = pose
    size = det.extras.get("size") if isinstance(det.extras, dict) else None
    if size is not None:
        out.bbox.size.x, out.bbox.size.y, out.bbox.size.z = (float(s) for s in size)
    out.id = f"{det.label}#{index}"
    return out


def detections_to_msg(dets: Sequence[Detection], stamp_ns: int, frame_id: str):
    """vision_msgs/Detection3DArray of Detections in the camera optical frame ``frame_id``."""
    vm = _vision_msgs()
    msg = vm.Detection3DArray()
    msg.header = make_header(stamp_ns, frame_id)
    msg.detections = []
    for i, det in enumerate(dets):
        d = detection_to_msg(det, i)
        d.header = make_header(stamp_ns, frame_id)
        msg.detections.append(d)
    return msg


def msg_to_detection(msg, camera: CameraIntrinsics | None = None) -> Detection:
    """Detection from a Detection3D (its best hypothesis); ``pixel`` is NaN without ``camera``."""
    if len(msg.results) == 0:
        raise ValueError(f"Detection3D {msg.id!r} has no results (class hypothesis)")
    hyp = max(msg.results, key=lambda r: r.hypothesis.score)
    T = pose_to_matrix(hyp.pose.pose)
    cov = np.asarray(hyp.pose.covariance, dtype=np.float64).reshape(6, 6)
    full_6d = bool(max(cov[3, 3], cov[4, 4]) < UNKNOWN_VARIANCE / 2)
    point = T[:3, 3].copy()
    pixel = (float("nan"), float("nan"))
    if camera is not None and point[2] > 0:
        pixel = (
            float(camera.fx * point[0] / point[2] + camera.cx),
            float(camera.fy * point[1] / point[2] + camera.cy),
        )
    size = (msg.bbox.size.x, msg.bbox.size.y, msg.bbox.size.z)
    extras = {"id": msg.id}
    if any(s > 0 for s in size):
        extras["size"] = size
    return Detection(
        label=hyp.hypothesis.class_id,
        score=float(hyp.hypothesis.score),
        pixel=pixel,
        point=point,
        pose=T,
        grasp_axis=T[:3, 1].copy(),
        pose_is_full_6d=full_6d,
        extras=extras,
    )


def msg_to_detections(msg, camera: CameraIntrinsics | None = None) -> list[Detection]:
    """All Detections of a Detection3DArray (skipping none: a bad entry raises ValueError)."""
    return [msg_to_detection(d, camera) for d in msg.detections]
