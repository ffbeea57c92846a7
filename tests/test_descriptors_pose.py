"""Grasping outputs: kernel query, keypoints -> 6-D pose, database, DescriptorDetector."""

import numpy as np
import pytest
import torch

from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.geometry.se3 import se3_exp
from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
from grasp_pipeline.perception.descriptors.database import DescriptorDatabase, register_object
from grasp_pipeline.perception.descriptors.detector import DescriptorDetector
from grasp_pipeline.perception.descriptors.model import DescriptorNet
from grasp_pipeline.perception.descriptors.pose import lift_keypoints, pose_from_keypoints
from grasp_pipeline.perception.descriptors.procedural import TexturedBox, look_pose, render_box
from grasp_pipeline.perception.descriptors.query import query_descriptors
from grasp_pipeline.perception.detector import Detection, Detector

CAM = preset("d435", 128, 96)


def _rot_err_deg(Ra, Rb):
    return np.degrees(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1, 1)))


def test_query_finds_the_descriptor():
    desc = torch.zeros(2, 10, 12)
    desc[0, 4, 7] = 5.0  # a unique descriptor at (u, v) = (7, 4)
    q = query_descriptors(desc, torch.tensor([5.0, 0.0]), temperature=0.0)
    np.testing.assert_allclose(q.uv[0], [7.0, 4.0], atol=1e-4)
    np.testing.assert_array_equal(q.nearest_uv[0], [7, 4])
    assert q.confidence[0] == pytest.approx(1.0)
    assert q.heatmap.shape == (1, 10, 12) and q.heatmap.sum() == pytest.approx(1.0, abs=1e-5)
    # a wide kernel smears the answer towards the image centre
    wide = query_descriptors(desc, torch.tensor([5.0, 0.0]), temperature=3.0)
    assert abs(wide.uv[0, 0] - 5.5) < abs(q.uv[0, 0] - 5.5)
    with pytest.raises(ValueError, match="queries"):
        query_descriptors(desc, torch.zeros(3))


def test_pose_from_keypoints_recovers_known_pose():
    rng = np.random.default_rng(0)
    gx, gy = np.meshgrid(np.linspace(-0.04, 0.04, 6), np.linspace(-0.03, 0.03, 5))
    # object-frame keypoints on a grid (>= 4 px apart in the image) with some relief
    ref = np.stack([gx.ravel(), gy.ravel(), rng.uniform(-0.01, 0.01, 30)], 1)
    T = se3_exp(np.array([0.01, -0.02, 0.35, 0.3, -0.3, 1.2]))
    X = ref @ T[:3, :3].T + T[:3, 3]
    uv = np.stack([CAM.fx * X[:, 0] / X[:, 2] + CAM.cx, CAM.fy * X[:, 1] / X[:, 2] + CAM.cy], 1)
    depth = np.full((CAM.height, CAM.width), np.nan)
    # put the exact depth at each keypoint's pixel and re-project the pixel centre exactly
    ui, vi = np.round(uv).astype(int).T
    depth[vi, ui] = X[:, 2]
    uv_c = np.stack([ui, vi], 1).astype(float)
    X_c = np.stack(
        [
            (uv_c[:, 0] - CAM.cx) / CAM.fx * X[:, 2],
            (uv_c[:, 1] - CAM.cy) / CAM.fy * X[:, 2],
            X[:, 2],
        ],
        1,
    )
    Tinv = np.linalg.inv(T)
    ref_c = X_c @ Tinv[:3, :3].T + Tinv[:3, 3]
    # five keypoints lose their depth and three are wrong matches
    depth[vi[:5], ui[:5]] = np.nan
    uv_bad = uv_c.copy()
    uv_bad[5:8] += [[20, 0], [0, 15], [-12, -9]]
    est = pose_from_keypoints(uv_bad, depth, CAM, ref_c)
    assert not est.inliers[:8].any() and est.inliers[8:].all()
    assert _rot_err_deg(T[:3, :3], est.pose[:3, :3]) < 0.01
    assert np.linalg.norm(T[:3, 3] - est.pose[:3, 3]) < 1e-5
    with pytest.raises(ValueError, match="have depth"):
        pose_from_keypoints(uv_c[:3], depth, CAM, ref_c[:3])


def test_lift_keypoints_masks_missing_depth():
    depth = np.full((CAM.height, CAM.width), np.nan)
    depth[10:13, 20:23] = 0.5
    pts, ok = lift_keypoints(np.array([[21.0, 11.0], [60.0, 60.0], [-5.0, 3.0]]), depth, CAM)
    assert ok.tolist() == [True, False, False]
    np.testing.assert_allclose(
        pts[0], [(21 - CAM.cx) / CAM.fx * 0.5, (11 - CAM.cy) / CAM.fy * 0.5, 0.5]
    )


def _coord_descriptors(render):
    # a perfect dense descriptor: the surface point in the object frame (centimetres)
    d = np.nan_to_num(render.object_points * 100.0, nan=1e3)
    return torch.as_tensor(d.transpose(2, 0, 1), dtype=torch.float32)


def test_detector_recovers_pose_with_perfect_descriptors(tmp_path):
    box = TexturedBox((0.09, 0.06, 0.04), seed=1)
    ref_pose = look_pose(0.25, 0.35, -0.25, 0.3)
    ref = render_box(box, ref_pose, CAM)
    entry = register_object(
        _coord_descriptors(ref).numpy(),
        ref.mask,
        ref.depth_m,
        CAM,
        "box",
        48,
        ref_pose,
        temperature=float(np.log(0.3)),
    )
    db = DescriptorDatabase()
    db.add(entry)
    db.save(tmp_path / "db")
    db = DescriptorDatabase.load(tmp_path / "db.json")
    np.testing.assert_allclose(db["box"].points_object, entry.points_object)
    detector = DescriptorDetector(None, db)
    new = look_pose(0.0, 0.0, 0.0, 1.0)[:3, :3] @ ref_pose[:3, :3]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = new, ref_pose[:3, 3] + [0.02, -0.01, 0.03]
    frame = render_box(box, T, CAM)
    dets = detector.detect_in_descriptors(_coord_descriptors(frame), frame.depth_m, CAM, ["box"])
    assert len(dets) == 1
    det = dets[0]
    assert isinstance(det, Detection) and det.pose_is_full_6d and det.label == "box"
    assert _rot_err_deg(T[:3, :3], det.pose[:3, :3]) < 2.0
    assert np.linalg.norm(T[:3, 3] - det.pose[:3, 3]) < 0.004
    assert abs(np.linalg.norm(det.grasp_axis) - 1) < 1e-9


def test_database_roundtrip_and_errors(tmp_path):
    d = np.random.default_rng(0).normal(size=(8, 12, 16)).astype(np.float32)
    mask = np.zeros((12, 16), bool)
    mask[2:10, 3:13] = True
    depth = np.where(mask, 0.4, np.nan)
    cam = preset("d435", 16, 12)
    e = register_object(d, mask, depth, cam, "thing", num_points=10, erode_px=1)
    assert e.descriptors.shape == (10, 8)
    assert len({tuple(p) for p in e.pixels}) == 10  # distinct, spread pixels
    np.testing.assert_allclose(e.descriptors[0], d[:, int(e.pixels[0, 1]), int(e.pixels[0, 0])])
    db = DescriptorDatabase(model="m.pt")
    db.add(e)
    db.save(tmp_path / "x.npz")
    back = DescriptorDatabase.load(tmp_path / "x")
    assert back.names == ["thing"] and back.model == "m.pt"
    np.testing.assert_array_equal(back["thing"].descriptors, e.descriptors)
    with pytest.raises(ValueError, match="descriptor size"):
        e2 = register_object(d[:4], mask, depth, cam, "other", 5, erode_px=1)
        back.add(e2)
    with pytest.raises(ValueError, match="not in the descriptor database"):
        back["missing"]
    with pytest.raises(FileNotFoundError):
        DescriptorDatabase.load(tmp_path / "nope")
    # A flipped bit in the npz fails its member's CRC: a clear error naming the file.
    blob = bytearray((tmp_path / "x.npz").read_bytes())
    at = bytes(blob).find(e.descriptors.tobytes()[:32])
    blob[at + 3] ^= 0x01
    (tmp_path / "bad.npz").write_bytes(bytes(blob))
    (tmp_path / "bad.json").write_text((tmp_path / "x.json").read_text())
    with pytest.raises(ValueError, match=r"bad\.npz is corrupt \(object 'thing'\)"):
        DescriptorDatabase.load(tmp_path / "bad")
    e.descriptors[2, 1] = np.nan
    nan_db = DescriptorDatabase()
    nan_db.add(e)
    nan_db.save(tmp_path / "nan")
    with pytest.raises(ValueError, match="'thing' has non-finite descriptors"):
        DescriptorDatabase.load(tmp_path / "nan")


def test_descriptor_checkpoint_round_trip_and_refusals(tmp_path):
    from grasp_pipeline.perception.checkpoint import save_checkpoint
    from grasp_pipeline.perception.descriptors.checkpoint import (
        descriptor_checkpoint_state,
        load_descriptor_model,
        save_descriptor_model,
    )

    torch.manual_seed(0)
    cfg = DescriptorNetConfig(descriptor_dim=3, num_keypoints=8, base_width=8, blocks=(1, 1, 1, 1))
    net = DescriptorNet(cfg)
    save_descriptor_model(tmp_path / "d.pt", net, step=5, train_config={"lr": 1e-3})
    back = load_descriptor_model(tmp_path / "d.pt")
    assert back.config == cfg and not back.training
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)
    state = descriptor_checkpoint_state(net, 5)
    state["model"] = {k: v.clone() for k, v in state["model"].items()}  # keep net finite
    state["model"]["spatial_head.weight"][0, 0] = float("nan")
    save_checkpoint(tmp_path / "nan.pt", state)
    with pytest.raises(
        ValueError, match=r"nan\.pt holds non-finite weights: 'spatial_head\.weight'"
    ):
        load_descriptor_model(tmp_path / "nan.pt")
    state = descriptor_checkpoint_state(net, 5)
    del state["config"]["net"]
    save_checkpoint(tmp_path / "nonet.pt", state)
    with pytest.raises(ValueError, match="lacks the 'net' section"):
        load_descriptor_model(tmp_path / "nonet.pt")


def test_detector_interface_and_validation():
    torch.manual_seed(0)
    model = DescriptorNet(DescriptorNetConfig(descriptor_dim=3, num_keypoints=8, base_width=8))
    ref = render_box(TexturedBox((0.09, 0.06, 0.04)), look_pose(0.25, 0.3, 0.2, 0.1), CAM)
    with torch.no_grad():
        desc = model(
            torch.as_tensor(ref.rgb).permute(2, 0, 1)[None].float() / 255, keypoints=False
        ).descriptors[0]
    db = DescriptorDatabase()
    db.add(register_object(desc.numpy(), ref.mask, ref.depth_m, CAM, "box", 16))
    det = DescriptorDetector(model, db)
    assert isinstance(det, Detector)
    out = det.detect(ref.rgb, ref.depth, CAM)
    assert isinstance(out, list)
    for d in out:
        assert np.allclose(d.pose[:3, :3] @ d.pose[:3, :3].T, np.eye(3), atol=1e-9)
    with pytest.raises(ValueError, match="unknown target"):
        det.detect(ref.rgb, ref.depth, CAM, ["Motor"])
    with pytest.raises(ValueError, match="rgb"):
        det.detect(ref.rgb[..., 0], ref.depth, CAM)
    with pytest.raises(ValueError, match="D=3"):
        DescriptorDetector(
            DescriptorNet(DescriptorNetConfig(descriptor_dim=4, num_keypoints=8, base_width=8)), db
        )


def test_pose_demo_frames_with_perfect_descriptors():
    from grasp_pipeline.perception.descriptors.pose_demo import run_oracle_pose_demo

    r = run_oracle_pose_demo(size=(128, 96), trials=3)
    assert r["detected"] == 3
    assert r["max_rotation_error_deg"] < 1.0 and r["max_translation_error_m"] < 0.001
