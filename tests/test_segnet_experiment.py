"""Experiment runner, CLI commands and latency benchmark on a tiny generated data set."""

import json

import numpy as np
import pytest
import yaml
from segnet_fixtures import evaluate_segnet_cli

from grasp_pipeline.cli import main
from grasp_pipeline.training.experiment import ExperimentConfig, analyse, run_experiment


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("segdata")
    for split, seed, n in (("train", 1, 10), ("val", 2, 4)):
        assert (
            main(
                [
                    "dataset",
                    "generate",
                    "--out",
                    str(root / split),
                    "--scenes",
                    str(n),
                    "--seed",
                    str(seed),
                    "--width",
                    "160",
                    "--height",
                    "120",
                    "--quiet",
                ]
            )
            == 0
        )
    return root


def _config(tmp_path, data, methods=("sum", "auxnet"), seeds=(0, 1)):
    cfg = {
        "name": "tiny",
        "data": {"train": str(data / "train"), "val": str(data / "val")},
        "work_dir": str(tmp_path / "work"),
        "model": {"width": 32, "height": 24, "filters": [4, 8, 8], "dropout": 0.15},
        "train": {"steps": 12, "batch_size": 4, "lr": 0.003, "eval_every": 4, "log_every": 4},
        "methods": list(methods),
        "seeds": list(seeds),
        "workers": 2,
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_experiment_runs_resumes_and_reports(tmp_path, data):
    path = _config(tmp_path, data)
    out = tmp_path / "out"
    assert main(["experiment", "weighting", "--config", str(path), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["methods"]) == {"sum", "auxnet"}
    for m in res["methods"].values():
        assert len(m["convergence_steps"]) == 2 and len(m["errors"]) == 2
        assert all(s in (0, 4, 8, 12) for s in m["convergence_steps"])
        assert m["median_errors"] == pytest.approx(np.median(m["errors"]))
    assert 0.0 <= res["methods"]["sum"]["ks_p_errors"]["auxnet"] <= 1.0
    assert "auxnet_vs_sum" in res["comparison"]
    for png in ("curves.png", "double_box.png", "weights.png"):
        assert (out / png).stat().st_size > 1000
    curves = json.loads((out / "curves.json").read_text())
    assert curves["sum_s0"]["step"] == [0, 4, 8, 12]
    # A finished experiment is not retrained: the run logs stay as they are.
    log = tmp_path / "work" / "runs" / "sum_s0" / "eval.csv"
    before = log.read_text()
    cfg = ExperimentConfig.load(path)
    again = run_experiment(cfg, out)
    assert log.read_text() == before
    assert again["methods"]["sum"]["errors"] == res["methods"]["sum"]["errors"]
    assert analyse(cfg, out)["methods"]["auxnet"]["seeds"] == [0, 1]


def test_bad_experiment_config(tmp_path, data):
    path = _config(tmp_path, data, methods=("sum", "magic"))
    with pytest.raises(ValueError, match="magic"):
        ExperimentConfig.load(path)
    with pytest.raises(FileNotFoundError):
        ExperimentConfig.load(tmp_path / "none.yaml")


def test_train_evaluate_and_latency_cli(tmp_path, data):
    model = tmp_path / "model.pt"
    assert (
        main(
            [
                "train",
                "segnet",
                "--data",
                str(data / "train"),
                "--val",
                str(data / "val"),
                "--out",
                str(tmp_path / "run"),
                "--steps",
                "6",
                "--eval-every",
                "3",
                "--lr",
                "0.003",
                "--width",
                "32",
                "--height",
                "24",
                "--filters",
                "4",
                "8",
                "8",
                "--batch-size",
                "2",
                "--cache",
                "--model-out",
                str(model),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    doc = evaluate_segnet_cli(model, data / "val", tmp_path / "eval.json")
    assert doc["frames"] == 4 and doc["seed"] == 2
    assert doc["scored_as"] == "detector" and doc["pickup_label"] == "com"
    assert 0.0 <= doc["mean_pickup_rate"] <= 1.0 and 0.0 <= doc["detector"]["found"] <= 1
    assert 0.0 <= doc["paper_metric"]["class_accuracy_all_frames"] <= 1
    assert all("pickup_rate" in v for v in doc["per_class"].values())
    lat = tmp_path / "lat.json"
    assert (
        main(
            [
                "benchmark",
                "segnet-latency",
                "--model",
                str(model),
                "--out",
                str(lat),
                "--iterations",
                "3",
                "--repeats",
                "2",
                "--threads",
                "1",
                "--backends",
                "torch",
                "onnx",
            ]
        )
        == 0
    )
    doc = json.loads(lat.read_text())
    assert doc["fastest"] in ("torch", "onnx") and doc["fastest_hz"] > 0
    assert doc["camera_input"] == "640x480" and set(doc["variants"]) == {"torch", "onnx"}
