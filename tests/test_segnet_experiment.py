"""Experiment runner, CLI commands and latency benchmark on a tiny generated data set."""

import json

import numpy as np
import pytest
import yaml
from segnet_fixtures import evaluate_segnet_cli

from grasp_pipeline.cli import main
from grasp_pipeline.training.checkpoint import load_checkpoint
from grasp_pipeline.training.experiment import (
    ExperimentConfig,
    analyse,
    paired_tests,
    run_experiment,
)


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
        "train": {
            "steps": 12,
            "batch_size": 4,
            "lr": 0.003,
            "eval_every": 4,
            "log_every": 4,
            "weighting": {"warmup_steps": 4},
        },
        "methods": list(methods),
        "seeds": list(seeds),
        "workers": 2,
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_experiment_runs_resumes_and_reports(tmp_path, data):
    path = _config(tmp_path, data, methods=("sum", "auxnet", "kgc", "famo"))
    out = tmp_path / "out"
    assert main(["experiment", "weighting", "--config", str(path), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["methods"]) == {"sum", "auxnet", "kgc", "famo"}
    for m in res["methods"].values():
        assert len(m["convergence_steps"]) == 2 and len(m["errors"]) == 2
        assert len(m["flags"]) == 2 and len(m["tail_errors"]) == 2
        assert all(s in (0, 4, 8, 12) for s in m["convergence_steps"])
        assert all(set(f) <= {"stuck", "late", "relapse"} for f in m["flags"])
        # Medians of convergence quantities leave flagged runs out; tail errors keep every run.
        ok = [e for e, f in zip(m["errors"], m["flags"], strict=True) if not f]
        assert m["ok_seeds"] == [s for s, f in zip(m["seeds"], m["flags"], strict=True) if not f]
        if ok:
            assert m["median_errors"] == pytest.approx(np.median(ok))
        else:
            assert np.isnan(m["median_errors"])
        assert m["median_tail_errors"] == pytest.approx(np.median(m["tail_errors"]))
    # Twelve steps at this size move the error by < 0.1 % of its start: every run is stuck, so
    # no run enters the convergence-based medians, KS tests or the paper-style comparison.
    for m in res["methods"].values():
        assert all("stuck" in f for f in m["flags"]) and m["ok_seeds"] == []
    assert np.isnan(res["methods"]["sum"]["ks_p_errors"]["auxnet"])
    assert res["comparison"] == {}
    paired = res["paired_tests"]
    assert paired["sum_vs_auxnet"]["errors"]["n_pairs"] == 0
    assert set(paired) == {
        "sum_vs_auxnet",
        "kgc_vs_auxnet",
        "famo_vs_auxnet",
        "sum_vs_kgc",
        "auxnet_vs_kgc",
        "famo_vs_kgc",
    }
    tail = paired["sum_vs_kgc"]["tail_errors"]
    assert tail["n_pairs"] == 2
    for key in ("p_wilcoxon", "p_permutation", "p_ks", "p_wilcoxon_holm"):
        assert 0.0 <= tail[key] <= 1.0
    d = np.subtract(res["methods"]["sum"]["tail_errors"], res["methods"]["kgc"]["tail_errors"])
    assert tail["median_diff"] == pytest.approx(np.median(d))
    for png in ("curves.png", "double_box.png", "weights.png", "paired.png"):
        assert (out / png).stat().st_size > 1000
    curves = json.loads((out / "curves.json").read_text())
    assert curves["sum_s0"]["step"] == [0, 4, 8, 12]
    # Same seed = same initial network and batches; the warm-up (4 steps) is the plain sum for
    # every method, so the curves agree up to step 4 and part after it.
    for seed in (0, 1):
        ref = curves[f"sum_s{seed}"]["summed_error"]
        for m in ("kgc", "famo", "auxnet"):
            c = curves[f"{m}_s{seed}"]["summed_error"]
            assert c[:2] == pytest.approx(ref[:2], rel=1e-5, abs=1e-6), m
        assert curves[f"kgc_s{seed}"]["summed_error"][3] != pytest.approx(ref[3], rel=1e-6)
    # FAMO's logits learned from the steps after the warm-up (post-step losses from the trainer).
    state = load_checkpoint(tmp_path / "work" / "runs" / "famo_s0" / "checkpoint.pt")
    xi = state["weighting_extra"]["xi"]
    assert int(state["weighting_extra"]["calls"]) == 12 and bool((xi != 0).any())
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


def test_paired_tests_leave_flagged_runs_out():
    seeds = list(range(6))

    def summary(steps, errors, tails, flags):
        return {
            "seeds": seeds,
            "convergence_steps": steps,
            "errors": errors,
            "tail_errors": tails,
            "flags": flags,
        }

    ok = [[]] * 6
    methods = {
        "auxnet": summary([500] * 6, [1.6] * 6, [1.6] * 6, ok),
        "kgc": summary([700] * 6, [1.8] * 6, [1.8] * 6, [["stuck"]] + [[]] * 5),
        "sum": summary(
            [400, 450, 420, 480, 430, 1450],
            [1.5, 1.52, 1.51, 1.55, 1.53, 1.7],
            [1.5, 1.52, 1.51, 1.55, 1.53, 1.7],
            [[]] * 5 + [["late"]],
        ),
    }
    res = paired_tests(methods)
    assert set(res) == {"kgc_vs_auxnet", "sum_vs_auxnet", "sum_vs_kgc", "auxnet_vs_kgc"}
    r = res["sum_vs_kgc"]
    assert r["method"] == "sum" and r["reference"] == "kgc"
    assert r["errors"]["n_pairs"] == 4  # seed 0 (kgc stuck) and seed 5 (sum late) left out
    assert r["tail_errors"]["n_pairs"] == 6  # the tail of the curve is defined for every run
    assert r["convergence_steps"]["median_diff"] == pytest.approx(-260.0)  # seeds 1-4
    assert r["errors"]["rank_biserial"] == -1.0  # sum lower on every pair
    assert r["tail_errors"]["p_permutation"] == pytest.approx(2 / 64)
    assert r["tail_errors"]["p_wilcoxon_holm"] >= r["tail_errors"]["p_wilcoxon"]


@pytest.mark.parametrize("name", ["weighting_cpu.yaml", "weighting_paper.yaml"])
def test_shipped_configs_build_every_method(name):
    from grasp_pipeline.paths import repo_root
    from grasp_pipeline.training.weighting import make_weighting

    cfg = ExperimentConfig.load(repo_root() / "config" / "experiments" / name)
    assert {"iou", "distance", "cross_entropy", "sum", "kgc", "auxnet", "famo"} <= set(cfg.methods)
    assert len(cfg.seeds) >= 10 and cfg.flags["late_fraction"] == 0.1
    for method in cfg.methods:
        w = make_weighting(method, **cfg.train["weighting"])
        assert w.warmup_steps == cfg.train["weighting"]["warmup_steps"] > 0
