"""Weighting methods inside the real trainer: warm-up across methods, FAMO's post-step update and
bit-identical resume across the end of the warm-up."""

import pytest
import torch
from segnet_fixtures import BoxesDataset

from grasp_pipeline.perception.segnet import SegNetConfig
from grasp_pipeline.training.segnet_trainer import SegNetTrainer, TrainConfig

MCFG = SegNetConfig(width=32, height=24, num_classes=3, filters=(6, 12, 16, 24))


def _trainer(out, method, steps=20, warmup=8):
    tcfg = TrainConfig(
        method=method,
        steps=steps,
        lr=2e-3,
        eval_every=10,
        batch_size=4,
        weighting={"warmup_steps": warmup, "period": 2},
    )
    return SegNetTrainer(MCFG, tcfg, BoxesDataset(24, seed=0), BoxesDataset(8, seed=1), out)


@pytest.mark.parametrize("method", ["famo", "auxnet", "kgc", "uncertainty"])
def test_resume_across_the_warmup_is_identical(tmp_path, method):
    torch.set_num_threads(1)
    a = _trainer(tmp_path / "a", method)
    hist_a = a.fit(progress=False)
    b = _trainer(tmp_path / "b", method, warmup=12)
    b.fit(progress=False, stop_after=10)  # killed inside the warm-up (step 10 of 12)
    del b
    b2 = _trainer(tmp_path / "b", method, warmup=12)
    assert b2.step == 10 and b2.weighting.calls == 10
    b2.fit(progress=False)
    c = _trainer(tmp_path / "c", method, warmup=12)
    hist_c = c.fit(progress=False)
    assert [h["iou_error"] for h in hist_c] == [h["iou_error"] for h in b2.history]
    for k, v in c.model.state_dict().items():
        assert torch.equal(v, b2.model.state_dict()[k]), k
    # Warm-up of 8 vs 12 steps: same first evaluation, different weights afterwards.
    assert hist_a[0]["iou_error"] == hist_c[0]["iou_error"]
    assert a.weighting.multipliers() != pytest.approx(c.weighting.multipliers(), rel=1e-9)


def test_warmup_trains_the_same_network_for_every_method(tmp_path):
    torch.set_num_threads(1)
    models = {}
    for m in ("sum", "kgc", "kgc_mean", "auxnet", "famo", "dwa", "uncertainty"):
        t = _trainer(tmp_path / m, m, steps=6, warmup=6)
        t.fit(progress=False)
        models[m] = t.model.state_dict()
    for m, sd in models.items():
        for k, v in sd.items():
            assert torch.equal(v, models["sum"][k]), (m, k)


def test_famo_logits_follow_the_trainers_post_step_losses(tmp_path):
    torch.set_num_threads(1)
    t = _trainer(tmp_path, "famo", steps=12, warmup=4)
    t.fit(progress=False, stop_after=4)
    assert t.weighting.xi.tolist() == [0.0, 0.0]  # warm-up: nothing learned
    t.fit(progress=False, stop_after=1)
    # One update after step 5: |dxi| = Adam's first step, lr |g| / (|g| + 1e-8) per logit with
    # opposite signs (g sums to 0); |g| ~ 1e-4 here, so eps takes up to ~1e-3 of the step.
    xi = t.weighting.xi.detach()
    assert xi.abs().tolist() == pytest.approx([0.025, 0.025], rel=1e-3)
    assert float(xi.sum()) == pytest.approx(0.0, abs=1e-9)
