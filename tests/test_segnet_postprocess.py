"""Instances, dominant axis, robust depth and grasp frame from hand-made activation maps."""

import math

import numpy as np
import pytest

from grasp_pipeline.perception.planar_axis import grasp_frame
from grasp_pipeline.perception.segnet.postprocess import find_instances, robust_depth


def _ellipse(h, w, cu, cv, a, b, angle):
    vs, us = np.mgrid[0:h, 0:w].astype(float)
    du, dv = us - cu, vs - cv
    c, s = math.cos(angle), math.sin(angle)
    x, y = c * du + s * dv, -s * du + c * dv
    return np.exp(-0.5 * ((x / a) ** 2 + (y / b) ** 2))


def test_two_instances_with_centroids_scores_and_axes():
    m = 0.9 * _ellipse(40, 60, 15.0, 20.0, 6, 2, math.radians(30))
    m = np.maximum(m, 0.7 * _ellipse(40, 60, 45.0, 10.0, 2, 5, math.radians(0)))
    inst = find_instances(m, threshold=0.3)
    assert len(inst) == 2
    a, b = inst  # strongest first
    assert a.score == pytest.approx(0.9, abs=1e-3) and b.score == pytest.approx(0.7, abs=1e-3)
    assert a.pixel == pytest.approx((15.0, 20.0), abs=0.05)
    assert b.pixel == pytest.approx((45.0, 10.0), abs=0.05)
    assert math.degrees(math.atan2(a.axis[1], a.axis[0])) == pytest.approx(30, abs=1.5)
    assert abs(b.axis[1]) == pytest.approx(1.0, abs=1e-3)  # long along v
    assert a.elongation > 2.0


def test_no_instance_and_bad_map():
    assert find_instances(np.zeros((8, 8))) == []
    m = np.zeros((8, 8))
    m[3, 3] = 0.9  # single pixel < min_pixels
    assert find_instances(m, min_pixels=3) == []
    m[:] = np.nan
    assert find_instances(m) == []
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        find_instances(np.zeros((2, 8, 8)))


def test_robust_depth_median_and_holes():
    d = np.full((20, 20), np.nan)
    d[10, 10:13] = [0.50, 0.52, 0.90]
    assert robust_depth(d, 11, 10, radius=1) == pytest.approx(0.52)
    d2 = np.full((50, 50), np.nan)
    d2[0, 0] = 0.7  # only far away: found after the window grows
    assert robust_depth(d2, 10, 10, radius=3, max_radius=24) == pytest.approx(0.7)
    assert math.isnan(robust_depth(np.zeros((10, 10)), 5, 5))


def test_grasp_frame_is_rotation_perpendicular_to_axis():
    R = grasp_frame((1.0, 1.0), fx=600.0, fy=300.0)
    assert pytest.approx(np.eye(3), abs=1e-12) == R @ R.T
    assert np.linalg.det(R) == pytest.approx(1.0)
    # metric direction of (1, 1) px is (1/600, 1/300): x axis along it, y (closing) perpendicular
    x = np.array([1 / 600, 1 / 300, 0])
    assert R[:, 0] == pytest.approx(x / np.linalg.norm(x))
    assert R[:, 1] @ x == pytest.approx(0.0, abs=1e-12)
    assert R[:, 2] == pytest.approx([0, 0, 1])


def test_max_instances_keeps_the_strongest():
    m = np.zeros((10, 30))
    for i, peak in enumerate((0.6, 0.9, 0.7)):
        m[4:7, 2 + 10 * i : 5 + 10 * i] = peak
    inst = find_instances(m, threshold=0.5, max_instances=2)
    assert [round(i.score, 3) for i in inst] == [0.9, 0.7]
    assert inst[0].pixel == pytest.approx((13.0, 5.0)) and inst[0].pixels == 9


def test_offsets_move_the_pickup_to_the_voted_point():
    m = np.zeros((20, 30), np.float32)
    m[5:10, 4:12] = 0.9
    (plain,) = find_instances(m)
    assert plain.pixel == pytest.approx((7.5, 7.0))
    off = np.zeros((2, 20, 30), np.float32)
    off[0], off[1] = 2.0, -1.5
    (voted,) = find_instances(m, offsets=off)
    assert voted.pixel == pytest.approx((9.5, 5.5))
    # every pixel pointing at one spot (an occluded object's hidden centre of mass)
    vs, us = np.mgrid[0:20, 0:30].astype(np.float32)
    off = np.stack([14.0 - us, 3.0 - vs])
    off[:, 5, 4] = np.nan  # a non-finite vote abstains
    (voted,) = find_instances(m, offsets=off)
    assert voted.pixel == pytest.approx((14.0, 3.0), abs=1e-5)
    assert voted.mass == pytest.approx(0.9 * 40)
    # half way between the blob centroid (7.5, 7.0) and the vote (14, 3)
    (half,) = find_instances(m, offsets=off, vote_weight=0.5)
    assert half.pixel == pytest.approx((10.75, 5.0), abs=1e-5)
    with pytest.raises(ValueError, match="vote_weight"):
        find_instances(m, offsets=off, vote_weight=1.5)
    with pytest.raises(ValueError, match="offsets must be"):
        find_instances(m, offsets=off[:, :10])


def test_vote_mode_ignores_a_minority_of_stray_votes():
    """30 % of a blob's pixels vote for a neighbour 15 px away: the mean is dragged 4.5 px
    towards it, the mode stays on the centre the other 70 % agree on (with sub-pixel spread)."""
    m = np.zeros((40, 60), np.float32)
    m[10:20, 10:20] = 0.9
    vs, us = np.mgrid[0:40, 0:60].astype(np.float32)
    rng = np.random.default_rng(0)
    tu, tv = 15.3 + 0.3 * rng.standard_normal((40, 60)), 14.6 + 0.3 * rng.standard_normal((40, 60))
    tu[17:20, 10:20] = 30.3  # the three bottom rows vote for a point 15 px to the right
    off = np.stack([tu - us, tv - vs]).astype(np.float32)
    (mean,) = find_instances(m, offsets=off, vote_mode="mean")
    (mode,) = find_instances(m, offsets=off, vote_mode="mode")
    assert mean.pixel[0] == pytest.approx(15.3 + 0.3 * 15.0, abs=0.2)
    assert mode.pixel == pytest.approx((15.3, 14.6), abs=0.15)
    # where every vote agrees the two are the same point
    exact = np.stack([15.3 - us, 14.6 - vs]).astype(np.float32)
    for vote_mode in ("mean", "mode"):
        (inst,) = find_instances(m, offsets=exact, vote_mode=vote_mode)
        assert inst.pixel == pytest.approx((15.3, 14.6), abs=1e-4)
    with pytest.raises(ValueError, match="vote_mode"):
        find_instances(m, offsets=exact, vote_mode="median")


def _blob(shape, rows, cols, value=0.9):
    a = np.zeros(shape, np.float32)
    a[rows, cols] = value
    return a


def test_look_alikes_on_the_same_pixels_are_demoted_by_their_evidence_share():
    from grasp_pipeline.perception.segnet.postprocess import demote_look_alikes

    shape = (24, 32)
    true = find_instances(_blob(shape, slice(4, 12), slice(4, 12)))[0]  # 64 px at 0.9
    echo = find_instances(_blob(shape, slice(5, 12), slice(4, 12), 0.7))[0]  # 56 px, all inside
    # a touching neighbour of a third class shares one column with the true blob
    neighbour = find_instances(_blob(shape, slice(4, 12), slice(11, 20)))[0]
    out = dict(demote_look_alikes([(1, true), (2, echo), (3, neighbour)]))
    assert out[1].score == pytest.approx(0.9) and out[3].score == pytest.approx(0.9)
    share = (56 * 0.7) / (64 * 0.9)  # the echo's evidence over the true blob's
    assert out[2].score == pytest.approx(0.7 * share, rel=1e-5)
    # the classification vector can overrule the activation mass
    out = dict(demote_look_alikes([(1, true), (2, echo)], class_weight=[0.0, 0.1, 0.9, 0.0]))
    assert out[2].score == pytest.approx(0.7)
    assert out[1].score == pytest.approx(0.9 * (64 * 0.9 * 0.1) / (56 * 0.7 * 0.9), rel=1e-5)
    with pytest.raises(ValueError, match="min_overlap"):
        demote_look_alikes([], min_overlap=0.0)
