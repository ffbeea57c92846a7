"""CLI: descriptors view (web page and PNG mode) and train descriptors (new object -> database)."""

import json
import threading
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
import torch

from grasp_pipeline.cli import main
from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
from grasp_pipeline.perception.descriptors.database import DescriptorDatabase
from grasp_pipeline.perception.descriptors.model import DescriptorNet
from grasp_pipeline.perception.descriptors.procedural import TexturedBox, look_pose, render_box
from grasp_pipeline.perception.descriptors.viewer import DescriptorPairView, make_server
from grasp_pipeline.training.descriptor_trainer import (
    DescriptorTrainConfig,
    load_descriptor_model,
    save_descriptor_checkpoint,
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = DescriptorTrainConfig(
        method="keypoint", net=DescriptorNetConfig(descriptor_dim=3, num_keypoints=8, base_width=8)
    )
    model = DescriptorNet(cfg.net)
    path = tmp_path_factory.mktemp("ck") / "model.pt"
    save_descriptor_checkpoint(path, model, cfg, step=0)
    return path


def test_checkpoint_roundtrip(checkpoint):
    model = load_descriptor_model(checkpoint)
    assert model.config.descriptor_dim == 3 and not model.training


def test_view_writes_heatmap_pngs(checkpoint, tmp_path):
    rc = main(
        [
            "descriptors",
            "view",
            "--checkpoint",
            str(checkpoint),
            "--size",
            "48x32",
            "--out",
            str(tmp_path),
            "--pixels",
            "10,10 20,15",
        ]
    )
    assert rc == 0
    for name in ("heatmap_10_10.png", "heatmap_20_15.png"):
        img = cv2.imread(str(tmp_path / name))
        assert img is not None and img.shape[0] == 32 * 3 and img.shape[1] == 2 * 48 * 3 + 6


def test_view_web_page_answers_clicks():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    desc = torch.randn(4, 12, 16)
    view = DescriptorPairView(a, a.copy(), desc, desc.clone(), temperature=-2.0)
    server = make_server(view, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        page = urllib.request.urlopen(base + "/", timeout=10).read().decode()
        assert "image A" in page and "/heatmap.png" in page
        q = json.loads(urllib.request.urlopen(base + "/query?u=5&v=7", timeout=10).read())
        assert q["nearest"] == [5, 7]  # same descriptors in A and B: the pixel finds itself
        assert q["confidence"] == pytest.approx(1.0)
        png = urllib.request.urlopen(base + "/heatmap.png?u=5&v=7", timeout=10).read()
        assert png[:4] == b"\x89PNG"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/query?u=99&v=7", timeout=10)
        assert err.value.code == 400
    finally:
        server.shutdown()
        server.server_close()


def _write_view(tmp_path, name, seed):
    cam = preset("d435", 64, 48)
    r = render_box(TexturedBox((0.09, 0.06, 0.04), seed=seed), look_pose(0.25, 0.3, -0.2, 0.4), cam)
    paths = {k: str(tmp_path / f"{name}_{k}.png") for k in ("rgb", "mask", "depth")}
    cv2.imwrite(paths["rgb"], r.rgb[..., ::-1])
    cv2.imwrite(paths["mask"], r.mask.astype(np.uint8) * 255)
    cv2.imwrite(paths["depth"], r.depth)
    return paths


def test_train_descriptors_registers_objects(tmp_path, capsys):
    db_path, ck = tmp_path / "db", tmp_path / "model.pt"
    common = [
        "--size",
        "64x48",
        "--steps",
        "2",
        "--dim",
        "3",
        "--keypoints",
        "8",
        "--base-width",
        "8",
        "--database",
        str(db_path),
        "--checkpoint",
        str(ck),
    ]
    a = _write_view(tmp_path, "a", 1)
    assert (
        main(
            [
                "train",
                "descriptors",
                "--object-image",
                a["rgb"],
                "--mask",
                a["mask"],
                "--depth",
                a["depth"],
                "--name",
                "boxA",
                *common,
            ]
        )
        == 0
    )
    b = _write_view(tmp_path, "b", 2)
    assert (
        main(
            [
                "train",
                "descriptors",
                "--object-image",
                b["rgb"],
                "--mask",
                b["mask"],
                "--depth",
                b["depth"],
                "--name",
                "boxB",
                *common,
            ]
        )
        == 0
    )
    db = DescriptorDatabase.load(db_path)
    assert db.names == ["boxA", "boxB"] and db.model == str(ck)
    assert db["boxA"].reference is not None and db["boxA"].reference.rgb.shape == (48, 64, 3)
    assert db.dim == load_descriptor_model(ck).config.descriptor_dim == 3
    capsys.readouterr()
    missing = [
        *("train", "descriptors", "--object-image", a["rgb"]),
        *("--mask", str(tmp_path / "none_mask.png"), "--depth", a["depth"], "--name", "x"),
    ]
    assert main([*missing, *common]) == 2  # one line naming the missing file, no traceback
    err = capsys.readouterr().err
    assert err.startswith("grasp-pipeline: error: ") and "none_mask.png" in err
    assert err.count("\n") == 1
