"""Descriptor training survives degenerate keypoints and non-finite steps.

Each case trains through the real ``train_descriptors`` in a subprocess with a wall-clock
limit, so a hang (the SVD, a BLAS defect) fails the test instead of stalling the suite.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

# Collapsed: keypoint heads zeroed, so every keypoint is the image centre at one depth in both
# views (coincident points: the Kabsch rotation is undetermined). Overflow: weights so large that
# the logits overflow to inf and the loss is NaN.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch

    from grasp_pipeline.data.pairs import PairConfig, PairSource
    from grasp_pipeline.geometry.camera import preset
    from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
    from grasp_pipeline.perception.descriptors.model import DescriptorNet
    from grasp_pipeline.perception.descriptors.procedural import TexturedBox, look_pose, render_box
    from grasp_pipeline.training.descriptor_trainer import DescriptorTrainConfig, train_descriptors

    case = sys.argv[1]
    torch.set_num_threads(1)
    cam = preset("d435", 64, 48)
    ref = render_box(TexturedBox((0.09, 0.06, 0.04), seed=1), look_pose(0.22, 0.0, 0.0, 0.3), cam)
    source = PairSource(ref.rgb, ref.mask, ref.depth_m, cam, "box")
    net = DescriptorNetConfig(descriptor_dim=4, num_keypoints=8, base_width=8, blocks=(1, 1, 1, 1))
    cfg = DescriptorTrainConfig(method="keypoint", steps=2, net=net, pairs=PairConfig(rotation_deg=30))
    torch.manual_seed(0)
    init = DescriptorNet(cfg.net)
    with torch.no_grad():
        if case == "collapsed":
            for head in (init.spatial_head, init.depth_head):
                head.weight.zero_()
                head.bias.zero_()
        else:
            init.identity.weight.fill_(1e30)
            init.spatial_head.weight.fill_(1e30)
    before = {k: v.clone() for k, v in init.state_dict().items()}
    res = train_descriptors(cfg, [source], progress=False, init=init)
    after = res.model.state_dict()
    print(json.dumps({
        "finite": all(bool(torch.isfinite(v).all()) for v in after.values() if v.is_floating_point()),
        "unchanged": all(torch.equal(before[k], after[k]) for k in before),
        "skipped_steps": res.skipped_steps,
        "skipped": [h["skipped"] for h in res.history],
        "pose": [h["pose"] for h in res.history],
        "grad_norm": [h["grad_norm"] for h in res.history],
    }))
    """
)


def _train(case: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, case],
        capture_output=True,
        text=True,
        timeout=50,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(60)
def test_collapsed_keypoints_train_with_finite_weights() -> None:
    r = _train("collapsed")
    assert r["finite"]
    # The undetermined pose term is left out (0), the other terms train: steps are taken.
    assert r["pose"] == [0.0, 0.0]
    assert r["skipped"] == [0.0, 0.0] and r["skipped_steps"] == 0
    assert all(0 < g < float("inf") for g in r["grad_norm"])
    assert not r["unchanged"]


@pytest.mark.timeout(60)
def test_non_finite_steps_are_skipped_and_counted() -> None:
    r = _train("overflow")
    assert r["skipped"] == [1.0, 1.0] and r["skipped_steps"] == 2
    assert r["unchanged"]  # no optimiser step: the weights are exactly the initial ones
    assert r["finite"]
