"""RViz markers for detections / grasps and the detector's debug image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from grasp_pipeline.perception.detector import Detection
from grasp_pipeline.ros.conversions import make_header, matrix_to_pose

_PALETTE = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
     [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255],
     [170, 110, 40]],
    dtype=np.uint8,
)  # fmt: skip


def label_color(label: str, labels: Sequence[str] = ()) -> tuple[int, int, int]:
    """A stable colour (RGB 0..255) per label: catalog order when known, else a hash."""
    i = list(labels).index(label) if label in labels else sum(map(ord, label))
    return tuple(int(c) for c in _PALETTE[i % len(_PALETTE)])


def detection_markers(
    dets: Sequence[Detection],
    stamp_ns: int,
    frame_id: str,
    labels: Sequence[str] = (),
    ns: str = "detections",
) -> MarkerArray:
    """Per detection: a sphere at the point, an arrow along the grasp axis, a text label.

    The first marker is a DELETEALL so markers of objects that disappeared are cleared.
    """
    out = MarkerArray()
    out.markers.append(
        Marker(header=make_header(stamp_ns, frame_id), ns=ns, action=Marker.DELETEALL)
    )
    for i, d in enumerate(dets):
        r, g, b = (c / 255.0 for c in label_color(d.label, labels))
        color = ColorRGBA(r=r, g=g, b=b, a=0.9)
        p = Point(x=float(d.point[0]), y=float(d.point[1]), z=float(d.point[2]))
        header = make_header(stamp_ns, frame_id)
        sphere = Marker(header=header, ns=ns, id=3 * i, type=Marker.SPHERE, action=Marker.ADD)
        sphere.pose = matrix_to_pose(d.pose)
        sphere.scale = Vector3(x=0.015, y=0.015, z=0.015)
        sphere.color = color
        text = Marker(
            header=header, ns=ns, id=3 * i + 1, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD
        )
        text.pose.position = Point(x=p.x, y=p.y - 0.02, z=p.z)
        text.pose.orientation.w = 1.0
        text.scale.z = 0.015
        text.color = color
        text.text = f"{d.label} {d.score:.2f}"
        out.markers += [sphere, text]
        if d.grasp_axis is not None:
            a = np.asarray(d.grasp_axis, dtype=float) * 0.03
            arrow = Marker(header=header, ns=ns, id=3 * i + 2, type=Marker.ARROW, action=Marker.ADD)
            arrow.points = [
                Point(x=p.x - a[0], y=p.y - a[1], z=p.z - a[2]),
                Point(x=p.x + a[0], y=p.y + a[1], z=p.z + a[2]),
            ]
            arrow.scale = Vector3(x=0.003, y=0.006, z=0.006)
            arrow.color = color
            out.markers.append(arrow)
    return out


def grasp_markers(
    T_tcp: np.ndarray, width_m: float, stamp_ns: int, frame_id: str, ns: str = "grasp"
) -> MarkerArray:
    """The planned TCP as three axis arrows (x red, y green, z = approach blue) and the finger gap."""
    out = MarkerArray()
    header = make_header(stamp_ns, frame_id)
    out.markers.append(Marker(header=header, ns=ns, action=Marker.DELETEALL))
    o = T_tcp[:3, 3]
    for k, rgb in enumerate(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))):
        m = Marker(header=header, ns=ns, id=k, type=Marker.ARROW, action=Marker.ADD)
        e = o + 0.05 * T_tcp[:3, k]
        m.points = [
            Point(x=float(o[0]), y=float(o[1]), z=float(o[2])),
            Point(x=float(e[0]), y=float(e[1]), z=float(e[2])),
        ]
        m.scale = Vector3(x=0.004, y=0.008, z=0.008)
        m.color = ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0)
        out.markers.append(m)
    if np.isfinite(width_m):
        gap = Marker(header=header, ns=ns, id=3, type=Marker.CUBE, action=Marker.ADD)
        gap.pose = matrix_to_pose(T_tcp)
        gap.scale = Vector3(
            x=0.005, y=float(max(width_m, 1e-3)), z=0.005
        )  # fingers close along TCP y
        gap.color = ColorRGBA(r=1.0, g=1.0, b=0.0, a=0.6)
        out.markers.append(gap)
    return out


def debug_image(
    rgb: np.ndarray,
    dets: Sequence[Detection],
    labels: Sequence[str] = (),
    heatmap: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: optional activation heatmap (H', W' in 0..1, resized) blended over the
    image, then a circle, grasp-axis line and label per detection."""
    import cv2

    img = rgb.copy()
    h, w = img.shape[:2]
    if heatmap is not None:
        hm = cv2.resize(
            np.clip(heatmap, 0.0, 1.0).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR
        )
        colored = cv2.applyColorMap((hm * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
        alpha = (0.6 * hm)[..., None]
        img = (img * (1 - alpha) + colored * alpha).astype(np.uint8)
    for d in dets:
        if not np.all(np.isfinite(d.pixel)):
            continue
        u, v = round(d.pixel[0]), round(d.pixel[1])
        color = label_color(d.label, labels)
        cv2.circle(img, (u, v), 6, color, 2)
        yaw = d.extras.get("yaw_rad") if isinstance(d.extras, dict) else None
        if yaw is not None:
            du, dv = 20 * np.cos(yaw), 20 * np.sin(yaw)
            cv2.line(img, (round(u - du), round(v - dv)), (round(u + du), round(v + dv)), color, 2)
        cv2.putText(
            img,
            f"{d.label} {d.score:.2f}",
            (u + 8, v - 8),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            color,
            1,
        )
    return img
