"""Dataset generation: reproducible files, kill-and-resume equals an uninterrupted run, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grasp_pipeline.cli import main
from grasp_pipeline.data.format import FRAME_FILES, list_frames, read_frame, read_manifest
from grasp_pipeline.data.generate import GenerationConfig, generate_dataset, make_frame
from grasp_pipeline.geometry.camera import deproject
from grasp_pipeline.sim.scene import SceneConfig

SMALL = {"width": 160, "height": 120}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _cfg(scenes: int, seed: int = 7, **kw) -> GenerationConfig:
    return GenerationConfig(
        scenes=scenes,
        seed=seed,
        **SMALL,
        scene=SceneConfig(max_objects=4, pool="classic2018"),
        **kw,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ds"
    generate_dataset(out, _cfg(6), workers=1, progress=False)
    return out


def test_layout_manifest_and_counts(reference):
    m = read_manifest(reference)
    assert m["complete"] is True and m["seed"] == 7 and m["scenes"] == 6 and len(m["classes"]) == 13
    assert list_frames(reference) == [f"{i:06d}" for i in range(6)]
    total = 0
    for fid in list_frames(reference):
        assert sorted(p.name for p in (reference / "frames" / fid).iterdir()) == sorted(FRAME_FILES)
        frame = read_frame(reference, fid)
        total += len(frame.objects)
        assert frame.depth.dtype == np.uint16 and frame.rgb.shape == (120, 160, 3)
        assert frame.meta["seed"] == [7, int(fid)]
        assert frame.camera_pose_world is not None
        ids = sorted(o.instance_id for o in frame.objects)
        assert ids == list(range(1, len(ids) + 1))
        assert set(np.unique(frame.instance_mask)) <= {0, *ids}
    assert m["counts"]["objects"] == total == sum(m["counts"]["per_class"].values())
    assert total >= 6


def test_same_seed_same_files_other_seed_differs(reference, tmp_path):
    frame = make_frame(_cfg(6), 4)
    again = read_frame(reference, "000004")
    np.testing.assert_array_equal(frame.rgb, again.rgb)
    np.testing.assert_array_equal(frame.depth, again.depth)
    other = make_frame(_cfg(6, seed=8), 4)
    assert not np.array_equal(other.rgb, frame.rgb)
    out = tmp_path / "again"
    generate_dataset(out, _cfg(3), progress=False)
    ref = _files(reference)
    for name, data in _files(out).items():
        if name != "manifest.json":
            assert ref[name] == data, name


def test_noise_free_pickup_depth_within_2mm(tmp_path):
    cfg = GenerationConfig(scenes=2, seed=3, **SMALL, noise=False)
    for i in range(2):
        frame = make_frame(cfg, i)
        for o in frame.objects:
            u, v = (int(c) for c in o.pickup_pixel)
            p = deproject(np.array([u, v], float), frame.depth[v, u] * 1e-3, frame.camera)
            assert np.linalg.norm(p - o.pickup_point) < 2e-3


def test_killed_then_resumed_equals_uninterrupted(reference, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "grasp_pipeline.cli", "dataset", "generate", "--out", str(out)]
    cmd += [
        "--scenes",
        "6",
        "--seed",
        "7",
        "--width",
        "160",
        "--height",
        "120",
        "--max-objects",
        "4",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    frames = out / "frames"
    deadline = time.monotonic() + 40
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = [p for p in frames.glob("0*")] if frames.is_dir() else []
            if len(done) >= 2:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the generator finished before it could be killed"
    complete = list_frames(out)
    assert 2 <= len(complete) < 6
    assert read_manifest(out)["complete"] is False
    # resume with two workers: order and worker count must not matter
    manifest = generate_dataset(out, _cfg(6), workers=2, progress=False)
    assert manifest["complete"] is True
    assert not list(frames.glob(".*"))
    assert _files(out) == _files(reference)


def test_resume_with_other_settings_is_refused(reference, tmp_path):
    out = tmp_path / "ds"
    generate_dataset(out, _cfg(1), progress=False)
    with pytest.raises(ValueError, match=r"other settings \(seed\)"):
        generate_dataset(out, _cfg(2, seed=99), progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no manifest.json"):
        generate_dataset(tmp_path / "junk", _cfg(1), progress=False)


def test_cli_generate_and_show(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(
        [
            "dataset",
            "generate",
            "--out",
            str(out),
            "--scenes",
            "2",
            "--seed",
            "1",
            "--width",
            "160",
            "--height",
            "120",
            "--camera",
            "sr300",
            "--quiet",
            "--max-objects",
            "3",
        ]
    )
    assert rc == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["frames"] == 2
    assert read_frame(out, "000001").camera.model == "sr300"
    png = tmp_path / "sheet.png"
    assert main(["dataset", "show", str(out), "--out", str(png), "--frames", "2"]) == 0
    from PIL import Image

    with Image.open(png) as img:
        assert img.size[0] > 800 and img.size[1] > 400
    (out / "frames" / "000001" / "mask.png").write_bytes(b"broken")
    assert main(["dataset", "show", str(out), "--out", str(png)]) == 2
    assert "000001/mask.png" in capsys.readouterr().err


def test_pools_decoys_and_channels(tmp_path, capsys):
    """A rulebook data set draws only rulebook objects plus annotated decoys from elsewhere, and
    its manifest lists the 22 channels they need; the default (API and CLI) stays the 13 classic
    classes of the shipped model."""
    from grasp_pipeline.objects import load_catalog

    catalog = load_catalog()
    assert GenerationConfig(scenes=1).scene.classes(catalog) == catalog.pool("classic2018")
    scene = SceneConfig(
        pool="rulebook",
        min_objects=2,
        max_objects=4,
        decoy_prob=1.0,
        max_decoys=2,
        distractor_prob=1.0,
        max_distractors=3,
    )
    cfg = GenerationConfig(scenes=3, seed=5, **SMALL, scene=scene)
    manifest = generate_dataset(tmp_path / "rb", cfg, progress=False)
    assert manifest["classes"] == catalog.names  # 22: Drill & co need channels 14..22
    rulebook = set(catalog.pool("rulebook"))
    for fid in list_frames(tmp_path / "rb"):
        frame = read_frame(tmp_path / "rb", fid)
        info = frame.meta["scene"]
        assert info["pool"] == catalog.pool("rulebook")
        assert set(info["objects"]) <= rulebook and info["decoys"]
        assert not set(info["decoys"]) & rulebook
        assert 1 <= info["n_distractors"] == len(info["distractor_kinds"]) <= 3
        for o in frame.objects:  # decoys are annotated with their own class
            assert o.class_index == catalog[o.label].class_index
            assert o.label in set(info["objects"]) | set(info["decoys"])
    bad = ["dataset", "generate", "--out", str(tmp_path / "x"), "--scenes", "1", "--pool", "nope"]
    assert main(bad) == 2
    assert "unknown object pool 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
