"""Descriptor benchmark end to end on a tiny config (fresh subprocess per model)."""

import json

import pytest
import yaml

from grasp_pipeline.training.descriptor_benchmark import BenchmarkConfig, run_benchmark

TINY = {
    "name": "tiny",
    "device": "cpu",
    "image_size": [48, 32],
    "base_width": 8,
    "num_keypoints": 8,
    "steps": 2,
    "models_per_setting": 1,
    "threads": 1,
    "workers": 2,  # settings side by side
    "sources": {"kind": "procedural", "count": 1, "seed": 0},
    "eval": {"pairs": 2, "correspondences": 32, "seed": 5},
    "methods": {
        "keypoint": {"dims": [3], "lr": 1e-3},
        "don_ntxent": {
            "dims": [3],
            "lr": 3e-4,
            "weight_decay": 1e-4,
            "matches": 16,
            "similarity": "matmul",
        },
    },
    "memory_probe": {"similarity": "broadcast", "steps": 1, "dims": [3]},
}


@pytest.mark.slow
def test_tiny_benchmark_writes_results(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    run_benchmark(cfg, tmp_path / "out", progress=False)
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    for method in ("keypoint", "don_ntxent"):
        s = res[method]["3"]["by_N"]["8" if method == "keypoint" else "16"]
        assert 0.0 < s["auc_mean"] <= 1.0 and s["auc_std"] >= 0.0
        assert len(s["aucs"]) == 1 and len(s["pck_curve_mean"]) == 100
        # the PCK curve is a cumulative fraction: non-decreasing in k
        assert all(
            b >= a for a, b in zip(s["pck_curve_mean"], s["pck_curve_mean"][1:], strict=False)
        )
        assert s["peak_memory_bytes"] > 50e6  # a python process with torch holds more than 50 MB
        assert s["seconds_per_step"] > 0
    assert res["don_ntxent_memory_probe"][0]["similarity"] == "broadcast"
    for name in ("results.md", "pck_curves.png", "auc_memory.png"):
        assert (tmp_path / "out" / name).stat().st_size > 100
    # a second run resumes: finished settings are not trained again and give the same figures
    results = sorted((tmp_path / "out" / "runs").glob("*.result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    run_benchmark(cfg, tmp_path / "out", progress=False)
    assert [p.stat().st_mtime_ns for p in results] == stamps
    again = json.loads((tmp_path / "out" / "results.json").read_text())
    assert again["keypoint"]["3"]["by_N"]["8"]["aucs"] == res["keypoint"]["3"]["by_N"]["8"]["aucs"]


@pytest.mark.slow
def test_sim_benchmark_reports_unseen_views_chance_and_pose(tmp_path):
    """Equal wall time, N per setting, held-out simulator views with both chance levels."""
    spec = {
        **TINY,
        "image_size": [64, 48],
        "steps": 1000,
        "seconds_per_model": 1.5,
        "sources": {"kind": "sim", "object": "M20_100", "seed": 0},
        "eval": {"pairs": 1, "correspondences": 32, "seed": 5},
        "pose_views": 1,
        "methods": {
            "keypoint_corr": {"dims": [3], "counts": [8], "correspondence": 1.0, "decoder": "skip"},
            "don_ntxent": {"dims": [3], "counts": [16], "similarity": "matmul"},
        },
        "memory_probe": {"similarities": ["broadcast", "matmul"], "steps": 1, "dims": [3]},
    }
    cfg = tmp_path / "sim.yaml"
    cfg.write_text(yaml.safe_dump(spec))
    run_benchmark(cfg, tmp_path / "out", progress=False)
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    for method in ("keypoint_corr", "don_ntxent"):
        e = res[method]["3"]
        for key in ("pck3", "pck10", "auc"):
            assert 0 <= e[key] <= 1
            assert 0 <= e["chance_random_pixel"][key] <= e["chance_random_on_object"][key] + 0.2
        row = next(iter(e["by_N"].values()))
        # the time budget, not the step cap, ended training
        assert row["steps"][0] < 1000
        assert "enrol_new" in json.dumps(row) or "unseen_enrol_new" in row
        assert "descriptors" in row["pose"]
    assert "keypoints" in res["keypoint_corr"]["3"]["by_N"]["8"]["pose"]
    sims = {r["similarity"] for r in res["don_ntxent_memory_probe"]}
    assert sims == {"broadcast", "matmul"}


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "methods": {"superpoint": {"dims": [3]}}}))
    with pytest.raises(ValueError, match="superpoint"):
        BenchmarkConfig.from_yaml(bad)
    bad.write_text(yaml.safe_dump({**TINY, "stepz": 3}))
    with pytest.raises(ValueError, match="stepz"):
        BenchmarkConfig.from_yaml(bad)
    with pytest.raises(FileNotFoundError):
        BenchmarkConfig.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.slow
def test_a_stuck_worker_is_a_reported_failure_and_a_rerun_resumes(tmp_path):
    from grasp_pipeline.training.descriptor_benchmark import WorkerFailedError

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "memory_probe": None, "worker_timeout_s": 0.2}))
    with pytest.raises(WorkerFailedError, match=r"2 of 2 benchmark workers failed") as err:
        run_benchmark(cfg, tmp_path / "out", progress=False)
    assert "ran past 0 s and was stopped" in str(err.value)
    assert not list((tmp_path / "out" / "runs").glob("*.result.json"))
    cfg.write_text(yaml.safe_dump({**TINY, "memory_probe": None}))
    run_benchmark(cfg, tmp_path / "out", progress=False)
    assert len(list((tmp_path / "out" / "runs").glob("*.result.json"))) == 2
