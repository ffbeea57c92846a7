"""grasp-pipeline enroll: one simulated frame + mask -> own model + database entry; the
descriptor detector then reports that object's 6-D pose through Detector.detect."""

import json

import numpy as np
import pytest
import yaml

from grasp_pipeline.cli import main
from grasp_pipeline.geometry.windows import canonical_frame
from grasp_pipeline.perception.descriptors.database import DescriptorDatabase
from grasp_pipeline.perception.descriptors.detector import DescriptorDetector
from grasp_pipeline.perception.descriptors.enroll import enrollment_scale, load_recipe
from grasp_pipeline.perception.detector import Detector
from grasp_pipeline.training.descriptor_eval import evaluate_enrolled

TINY = {
    "size": [64, 48],
    "train": {
        "method": "keypoint",
        "steps": 3,
        "lr_schedule": "cosine",
        "net": {"descriptor_dim": 8, "num_keypoints": 8, "base_width": 8, "decoder": "skip"},
        "loss": {
            "weights": {
                "silhouette": 1.0,
                "variance": 0.001,
                "separation": 1.0,
                "multiview": 1.0,
                "pose": 1.0,
                "correspondence": 1.0,
            }
        },
        "pairs": {
            "tilt_deg": 20,
            "shading": 0.3,
            "noise_sigma": 4.0,
            "blur_prob": 0.5,
            "canonical": True,
        },
    },
}


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    d = tmp_path_factory.mktemp("enroll")
    recipe = d / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    args = ["enroll", "--sim-object", "M20_100", "--recipe", str(recipe), "--out", str(d / "m")]
    assert main([*args, "--threads", "1", "--save-view", str(d / "view")]) == 0
    return d


def test_enroll_writes_model_and_database(enrolled):
    db = DescriptorDatabase.load(enrolled / "m" / "database")
    e = db["M20_100"]
    assert (enrolled / "m" / e.meta["checkpoint"]).is_file()
    assert e.meta["crop_size"] == [64, 48] and 0 < e.meta["scale"] <= 1
    # cut at the part's own centre and direction: the reference window shows it along +u
    assert e.meta["canonical"] is True and abs(e.meta["window_angle"]) > 0.1
    assert abs(canonical_frame(e.reference.mask)[1]) < np.deg2rad(8)
    assert e.meta["enroll_seconds"] > 0 and e.meta["steps"] == 3
    assert e.keypoint_points is not None and e.keypoint_points.shape == (8, 3)
    assert e.reference is not None and e.reference.rgb.shape == (48, 64, 3)
    # the support surface's normal, measured on the whole enrolment frame, points at the camera
    n = np.asarray(e.meta["support_normal_camera"])
    assert n.shape == (3,) and abs(np.linalg.norm(n) - 1) < 1e-6 and n[2] < -0.5
    # the enrolment view was written and can be enrolled again from the files
    view = enrolled / "view"
    args = [
        "enroll",
        "--rgb",
        str(view / "M20_100_rgb.png"),
        "--mask",
        str(view / "M20_100_mask.png"),
    ]
    args += ["--depth", str(view / "M20_100_depth.npy"), "--name", "again", "--steps", "2"]
    rec = enrolled / "recipe.yaml"
    assert main([*args, "--recipe", str(rec), "--out", str(enrolled / "m"), "--threads", "1"]) == 0
    db = DescriptorDatabase.load(enrolled / "m" / "database")
    assert db.names == ["M20_100", "again"]
    assert db["again"].meta["frame"] == "principal axes of the reference view"


def test_detector_from_database_reports_full_pose(enrolled):
    det = DescriptorDetector.from_database(enrolled / "m" / "database.json")
    assert isinstance(det, Detector)
    ev = evaluate_enrolled(det, "M20_100", views=2, pck_pairs=1)
    for m in ("keypoints", "descriptors", "keypoints+depth", "descriptors+depth"):
        assert len(ev["pose"][m]["views"]) == 2
        for row in ev["pose"][m]["views"]:
            if row["detected"]:
                assert 0 <= row["rotation_error_deg"] <= 180
    assert {"model", "random_pixel", "random_on_object", "same_window_pixel"} <= set(ev["pck"])
    # the ROS detector node loads an enrolment database as its model (each object's own model)
    from grasp_pipeline.ros.detector_loading import load_detector

    node_det = load_detector("descriptors", str(enrolled / "m" / "database.json"))
    assert isinstance(node_det, DescriptorDetector) and "M20_100" in node_det.models
    with pytest.raises(ValueError, match="database_path"):
        load_detector(
            "descriptors", str(enrolled / "m" / node_det.database["M20_100"].meta["checkpoint"])
        )
    with pytest.raises(ValueError, match="pose_method"):
        DescriptorDetector(None, det.database, pose_method="magic")


def test_recipe_and_scale_checks(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps({"size": [64, 48], "epochs": 3}))
    with pytest.raises(ValueError, match="unknown recipe key"):
        load_recipe(bad)
    shipped = load_recipe("config/descriptors/enroll.yaml")
    assert shipped.train.loss.weights["correspondence"] > 0 and shipped.size == (128, 96)
    assert shipped.train.pairs.canonical  # windows cut at the part's own centre and direction
    mask = np.zeros((480, 640), bool)
    mask[100:200, 100:400] = True  # diagonal ~316 px -> 0.8 * 96 / 316
    assert enrollment_scale(mask, (128, 96)) == pytest.approx(0.8 * 96 / np.hypot(300, 100))
    with pytest.raises(ValueError, match="empty"):
        enrollment_scale(np.zeros((4, 4), bool), (128, 96))
