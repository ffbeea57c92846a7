"""Replay RGB-D frames from a rosbag2 recording (.db3 or .mcap) with ``rosbags`` (no ROS needed).

Topics default to the realsense2_camera names. Colour and depth are paired by header stamp: a
frame set is produced when both streams have a message with the same stamp (or, with
``tolerance_ns`` > 0, stamps closer than that); unpaired messages are skipped and counted in
``skipped``. The colour topic's camera_info supplies the intrinsics (the latest one before the frame).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.sources import msg_codec as codec
from grasp_pipeline.sources.base import CameraSource, FrameSet

COLOR_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
IMAGE_TYPE = "sensor_msgs/msg/Image"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class RosbagSource(CameraSource):
    """Frame sets from a rosbag2 directory or file. ``loop`` restarts at the end.

    Raises FileNotFoundError when the bag does not exist and ValueError (on ``open``) when a
    topic is missing or has the wrong type.
    """

    kind = "rosbag"

    def __init__(
        self,
        path: str | Path,
        color_topic: str = COLOR_TOPIC,
        depth_topic: str = DEPTH_TOPIC,
        info_topic: str = INFO_TOPIC,
        depth_scale: float = 0.001,
        loop: bool = False,
        tolerance_ns: int = 0,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"rosbag not found: {self.path}")
        self.topics = {"color": color_topic, "depth": depth_topic, "info": info_topic}
        self.depth_scale, self.loop, self.tolerance_ns = depth_scale, loop, int(tolerance_ns)
        self.skipped = 0
        self._reader = None
        self._iter: Iterator[FrameSet] | None = None

    @property
    def finite(self) -> bool:
        return not self.loop

    def _open(self) -> None:
        from rosbags.rosbag2 import Reader

        reader = Reader(self.path)
        reader.open()
        found = {c.topic: c.msgtype for c in reader.connections}
        for role, topic in self.topics.items():
            want = INFO_TYPE if role == "info" else IMAGE_TYPE
            if topic not in found:
                reader.close()
                raise ValueError(
                    f"rosbag {self.path}: {role} topic {topic!r} not in {sorted(found)}"
                )
            if found[topic] != want:
                reader.close()
                raise ValueError(
                    f"rosbag {self.path}: topic {topic!r} is {found[topic]}, not {want}"
                )
        self._reader = reader
        self._iter = self._framesets()

    def _messages(self):
        ts = _typestore()
        conns = [c for c in self._reader.connections if c.topic in self.topics.values()]
        role_of = {t: r for r, t in self.topics.items()}
        for conn, _t, raw in self._reader.messages(connections=conns):
            yield role_of[conn.topic], ts.deserialize_cdr(raw, conn.msgtype)

    def _framesets(self) -> Iterator[FrameSet]:
        camera: CameraIntrinsics | None = None
        pending: dict[str, dict[int, object]] = {"color": {}, "depth": {}}
        for role, msg in self._messages():
            if role == "info":
                camera = codec.intrinsics_from_camera_info(msg, self.depth_scale)
                continue
            stamp = _stamp_ns(msg.header)
            other = "depth" if role == "color" else "color"
            match = self._find(pending[other], stamp)
            if match is None:
                pending[role][stamp] = msg
                continue
            partner = pending[other].pop(match)
            # anything older than this pair can no longer be matched
            for r in pending:
                for s in [s for s in pending[r] if s < min(stamp, match)]:
                    del pending[r][s]
                    self.skipped += 1
            if camera is None:
                self.skipped += 1
                continue
            color, depth = (msg, partner) if role == "color" else (partner, msg)
            yield self._decode(color, depth, camera, _stamp_ns(color.header))
        self.skipped += sum(len(p) for p in pending.values())

    def _find(self, pending: dict[int, object], stamp: int) -> int | None:
        if stamp in pending:
            return stamp
        if self.tolerance_ns <= 0 or not pending:
            return None
        best = min(pending, key=lambda s: abs(s - stamp))
        return best if abs(best - stamp) <= self.tolerance_ns else None

    def _decode(self, color, depth, camera: CameraIntrinsics, stamp: int) -> FrameSet:
        c = codec.decode_image(
            color.height,
            color.width,
            color.encoding,
            color.step,
            bool(color.is_bigendian),
            color.data,
        )
        d = codec.decode_image(
            depth.height,
            depth.width,
            depth.encoding,
            depth.step,
            bool(depth.is_bigendian),
            depth.data,
        )
        rgb = codec.to_rgb(c, color.encoding)
        d16 = codec.to_depth_units(d, depth.encoding, self.depth_scale)
        if (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
            camera = camera.scaled(rgb.shape[1], rgb.shape[0])
        return FrameSet(np.ascontiguousarray(rgb), np.ascontiguousarray(d16), camera, stamp, 0)

    def _read(self) -> FrameSet | None:
        fs = next(self._iter, None)
        if fs is None and self.loop:
            self._iter = self._framesets()
            fs = next(self._iter, None)
        return fs

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._iter = None


def write_rosbag(
    path: str | Path,
    frames: Iterable[tuple[np.ndarray, np.ndarray, int]],
    camera: CameraIntrinsics,
    frame_id: str = "camera_color_optical_frame",
    mcap: bool = False,
    color_topic: str = COLOR_TOPIC,
    depth_topic: str = DEPTH_TOPIC,
    info_topic: str = INFO_TOPIC,
    depth_stamp_offset_ns: int = 0,
) -> int:
    """Write (rgb (H, W, 3) uint8, depth (H, W) uint16 mm, stamp_ns) frames as a rosbag2.

    Colour as rgb8, depth as 16UC1 and the colour camera_info, all with the frame's stamp, on the
    realsense2_camera topics. ``mcap`` selects the MCAP storage (else sqlite3 .db3). The bag
    directory must not exist. ``depth_stamp_offset_ns`` stamps depth that much after colour, as
    drivers without hardware sync do. Returns the number of frames written.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = _typestore()
    Image, Info = ts.types[IMAGE_TYPE], ts.types[INFO_TYPE]
    Header, Time = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    Roi = ts.types["sensor_msgs/msg/RegionOfInterest"]
    path = Path(path)
    if path.exists():
        raise ValueError(f"rosbag output {path} exists already")
    plugin = StoragePlugin.MCAP if mcap else StoragePlugin.SQLITE3
    n = 0
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns = {
            "color": writer.add_connection(color_topic, IMAGE_TYPE, typestore=ts),
            "depth": writer.add_connection(depth_topic, IMAGE_TYPE, typestore=ts),
            "info": writer.add_connection(info_topic, INFO_TYPE, typestore=ts),
        }
        for rgb, depth, stamp_ns in frames:
            stamp_ns = int(stamp_ns)

            def header(ns: int):
                return Header(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id=frame_id)

            msgs = {}
            for role, arr, enc, offset in (
                ("color", rgb, "rgb8", 0),
                ("depth", depth, "16UC1", int(depth_stamp_offset_ns)),
            ):
                h, w, step, data = codec.encode_image(arr, enc)
                msgs[role] = Image(
                    header=header(stamp_ns + offset),
                    height=h,
                    width=w,
                    encoding=enc,
                    is_bigendian=0,
                    step=step,
                    data=np.frombuffer(data, np.uint8),
                )
            msgs["info"] = Info(
                header=header(stamp_ns),
                height=camera.height,
                width=camera.width,
                distortion_model="plumb_bob",
                d=np.zeros(5),
                k=np.asarray(camera.K, dtype=np.float64).reshape(-1),
                r=np.eye(3).reshape(-1),
                p=np.hstack([camera.K, np.zeros((3, 1))]).reshape(-1),
                binning_x=0,
                binning_y=0,
                roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
            )
            for role in ("info", "color", "depth"):
                raw = ts.serialize_cdr(msgs[role], msgs[role].__msgtype__)
                writer.write(conns[role], stamp_ns, raw)
            n += 1
    return n
