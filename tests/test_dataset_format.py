"""On-disk dataset format: exact round trips, atomic writes, clear errors on bad files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from grasp_pipeline.data.format import (
    Frame,
    ObjectAnnotation,
    frame_dir,
    list_frames,
    read_frame,
    read_manifest,
    write_frame,
    write_manifest,
)
from grasp_pipeline.geometry.camera import preset


def _frame(frame_id: str = "000007", with_pose: bool = True) -> Frame:
    rng = np.random.default_rng(0)
    cam = preset("sr300", 64, 48)
    mask = np.zeros((48, 64), np.uint16)
    mask[10:20, 30:50] = 1
    mask[30:40, 5:15] = 2
    pose = np.eye(4)
    pose[:3, 3] = [0.01, -0.02, 0.4]
    obj1 = ObjectAnnotation(
        instance_id=1,
        label="M20",
        class_index=6,
        pickup_pixel=(40.0, 15.0),
        pickup_point=np.array([0.01, -0.02, 0.392]),
        pose_camera=pose if with_pose else None,
        pose_world=None,
        axis_camera=np.array([1.0, 0.0, 0.0]) if with_pose else None,
        visible_pixels=200,
        com_camera=np.array([0.01, -0.02, 0.4]) if with_pose else None,
    )
    obj2 = ObjectAnnotation(2, "Motor", 13, (10.0, 35.0), None, None, None, None, 100)
    return Frame(
        frame_id=frame_id,
        rgb=rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
        depth=rng.integers(0, 65536, (48, 64), dtype=np.uint16),
        instance_mask=mask,
        camera=cam,
        camera_pose_world=np.eye(4) if with_pose else None,
        objects=[obj1, obj2],
        meta={"source": "test"},
    )


def test_round_trip_is_exact(tmp_path):
    frame = _frame()
    path = write_frame(tmp_path, frame)
    assert path == tmp_path / "frames" / "000007"
    assert sorted(p.name for p in path.iterdir()) == [
        "annotation.json",
        "color.png",
        "depth.png",
        "mask.png",
    ]
    back = read_frame(tmp_path, "000007")
    np.testing.assert_array_equal(back.rgb, frame.rgb)
    np.testing.assert_array_equal(back.depth, frame.depth)  # full 16-bit range survives
    np.testing.assert_array_equal(back.instance_mask, frame.instance_mask)
    assert back.camera == frame.camera and back.meta == {"source": "test"}
    np.testing.assert_array_equal(back.camera_pose_world, np.eye(4))
    a, b = back.objects
    assert (a.label, a.class_index, a.pickup_pixel, a.visible_pixels) == (
        "M20",
        6,
        (40.0, 15.0),
        200,
    )
    np.testing.assert_array_equal(a.pose_camera, frame.objects[0].pose_camera)
    np.testing.assert_array_equal(a.pickup_point, [0.01, -0.02, 0.392])
    assert b.pose_camera is None and b.pickup_point is None and b.label == "Motor"
    # colour is stored as RGB in the PNG (not BGR): an independent decoder agrees
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(path / "color.png")), frame.rgb)


def test_hand_labelled_frame_without_poses(tmp_path):
    write_frame(tmp_path, _frame(with_pose=False))
    back = read_frame(tmp_path, "000007")
    assert back.camera_pose_world is None and back.objects[0].pose_camera is None
    assert back.objects[0].pickup_pixel == (40.0, 15.0)


def test_listing_skips_unfinished_writes_and_rewrite_replaces(tmp_path):
    write_frame(tmp_path, _frame("000001"))
    write_frame(tmp_path, _frame("000000"))
    (tmp_path / "frames" / ".000002.abc").mkdir()  # what a killed writer leaves
    assert list_frames(tmp_path) == ["000000", "000001"]
    f = _frame("000001")
    f.objects = f.objects[:1]
    write_frame(tmp_path, f)
    assert len(read_frame(tmp_path, "000001").objects) == 1
    assert not list((tmp_path / "frames").glob(".000001*"))


def test_manifest_round_trip_and_errors(tmp_path):
    write_manifest(tmp_path, {"seed": 3, "classes": ["a"]})
    m = read_manifest(tmp_path)
    assert m["seed"] == 3 and m["format_version"] == 1
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest.json"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="format"):
        read_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"manifest.json"):
        read_manifest(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="frames"):
        list_frames(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["color.png", "depth.png", "mask.png", "annotation.json"])
def test_missing_file_is_named(tmp_path, name):
    write_frame(tmp_path, _frame())
    (frame_dir(tmp_path, "000007") / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"000007/{name}"):
        read_frame(tmp_path, "000007")


@pytest.mark.parametrize("name", ["color.png", "depth.png", "mask.png"])
def test_corrupt_png_is_named(tmp_path, name):
    write_frame(tmp_path, _frame())
    path = frame_dir(tmp_path, "000007") / name
    path.write_bytes(path.read_bytes()[:60])  # truncated
    with pytest.raises(ValueError, match=f"000007/{name}"):
        read_frame(tmp_path, "000007")


def test_wrong_image_kind_and_size_are_named(tmp_path):
    write_frame(tmp_path, _frame())
    d = frame_dir(tmp_path, "000007")
    cv2.imwrite(str(d / "depth.png"), np.zeros((48, 64), np.uint8))  # 8-bit depth
    with pytest.raises(ValueError, match=r"depth.png.*uint16"):
        read_frame(tmp_path, "000007")
    cv2.imwrite(str(d / "depth.png"), np.zeros((24, 32), np.uint16))
    with pytest.raises(
        ValueError, match=r"depth.png: image is 32x24 but the annotation's camera is 64x48"
    ):
        read_frame(tmp_path, "000007")


def test_bad_annotation_fields_are_named(tmp_path):
    write_frame(tmp_path, _frame())
    path = frame_dir(tmp_path, "000007") / "annotation.json"
    good = json.loads(path.read_text())
    path.write_text('{"objects": [')
    with pytest.raises(ValueError, match=r"corrupt JSON in .*annotation.json"):
        read_frame(tmp_path, "000007")
    bad = json.loads(json.dumps(good))
    del bad["objects"][1]["pickup_pixel"]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"annotation.json objects\[1\].*'pickup_pixel'"):
        read_frame(tmp_path, "000007")
    bad = json.loads(json.dumps(good))
    bad["objects"][0]["pose_camera"] = [[1, 0, 0], [0, 1, 0]]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"objects\[0\].*'pose_camera'.*\(4, 4\)"):
        read_frame(tmp_path, "000007")
    bad = json.loads(json.dumps(good))
    del bad["camera"]["fx"]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"annotation.json: bad field 'camera'"):
        read_frame(tmp_path, "000007")


def test_invalid_frames_are_refused_before_writing(tmp_path):
    f = _frame()
    f.depth = f.depth.astype(np.float32)
    with pytest.raises(ValueError, match="depth must be"):
        write_frame(tmp_path, f)
    f = _frame()
    f.objects[1].instance_id = 1
    with pytest.raises(ValueError, match="instance ids must be unique"):
        write_frame(tmp_path, f)
    assert not (tmp_path / "frames").exists() or list_frames(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="frame '000009' not found"):
        read_frame(tmp_path, "000009")
