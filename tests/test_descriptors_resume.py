"""Descriptor training resumes after a kill and ends with the same weights as an unbroken run."""

import pytest
import torch

from grasp_pipeline.data.pairs import PairConfig, PairSource
from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
from grasp_pipeline.perception.descriptors.procedural import TexturedBox, look_pose, render_box
from grasp_pipeline.training.descriptor_trainer import DescriptorTrainConfig, train_descriptors


def _setup(steps: int):
    cam = preset("d435", 64, 48)
    ref = render_box(TexturedBox((0.09, 0.06, 0.04), seed=1), look_pose(0.22, 0.0, 0.0, 0.3), cam)
    source = PairSource(ref.rgb, ref.mask, ref.depth_m, cam, "box")
    cfg = DescriptorTrainConfig(
        method="keypoint",
        steps=steps,
        lr_step=3,  # the scheduler's state must survive the resume too
        net=DescriptorNetConfig(descriptor_dim=4, num_keypoints=8, base_width=8),
        pairs=PairConfig(rotation_deg=30),
    )
    return cfg, [source]


class KilledError(Exception):
    pass


def test_resume_matches_an_unbroken_run(tmp_path, monkeypatch):
    import grasp_pipeline.training.descriptor_trainer as dt

    torch.set_num_threads(1)
    cfg, sources = _setup(6)
    full = train_descriptors(cfg, sources, progress=False)

    resume = tmp_path / "run.resume"
    real_save = dt._save_resume

    def save_then_die(*args):
        real_save(*args)
        if args[-1] == 4:
            raise KilledError

    monkeypatch.setattr(dt, "_save_resume", save_then_die)
    with pytest.raises(KilledError):
        train_descriptors(cfg, sources, progress=False, resume=resume, resume_every=2)
    assert resume.is_file()
    monkeypatch.setattr(dt, "_save_resume", real_save)
    again = train_descriptors(
        cfg, sources, progress=False, resume=resume, resume_every=2, checkpoint=tmp_path / "m.pt"
    )
    assert not resume.exists() and (tmp_path / "m.pt").is_file()
    assert [h["total"] for h in again.history] == [h["total"] for h in full.history]
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k


def test_resume_refuses_another_config(tmp_path):
    from grasp_pipeline.training.descriptor_trainer import _save_resume

    cfg, sources = _setup(4)
    res = train_descriptors(cfg, sources, progress=False)
    other, _ = _setup(8)
    opt = torch.optim.Adam(res.model.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, 3)
    import numpy as np

    _save_resume(tmp_path / "r", other, res.model, opt, sched, np.random.default_rng(0), [], 2)
    with pytest.raises(ValueError, match="another training config"):
        train_descriptors(cfg, sources, progress=False, resume=tmp_path / "r")
