"""The shape fit: a catalog part's known solid laid over a region's measured heights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.objects import load_catalog, mass_properties, top_view
from grasp_pipeline.perception.instances.geometry import Plane, Region
from grasp_pipeline.perception.instances.shape_fit import ShapeFitter

CAM = preset("d435", 640, 480)
TILT = math.radians(30)  # the camera looks down at the table, 30 deg off vertical, 0.6 m away
R_CAM = np.array(
    [[1, 0, 0], [0, math.cos(TILT), -math.sin(TILT)], [0, math.sin(TILT), math.cos(TILT)]]
) @ np.diag([1.0, -1.0, -1.0])
T_CAM = np.array([0.0, 0.0, 0.6])


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _seen(spec, yaw: float, xy: tuple[float, float], hide_x_above: float = math.inf):
    """Depth image, region and plane of ``spec`` lying at ``yaw``/``xy`` on the table (its top
    surface, rendered point by point; object x > ``hide_x_above`` hidden), and its true centre
    of gravity (camera frame)."""
    top = top_view(spec, 0.0005)
    jj, ii = np.nonzero(top > 0)
    ox = (ii + 0.5) * 0.0005 - spec.size[0] / 2
    oy = (jj + 0.5) * 0.0005 - spec.size[1] / 2
    keep = ox <= hide_x_above
    ox, oy, hz = ox[keep], oy[keep], top[jj, ii][keep]
    c, s = math.cos(yaw), math.sin(yaw)
    world = np.stack([c * ox - s * oy + xy[0], s * ox + c * oy + xy[1], hz], 1)
    pc = world @ R_CAM.T + T_CAM
    u = np.floor(CAM.fx * pc[:, 0] / pc[:, 2] + CAM.cx).astype(int)
    v = np.floor(CAM.fy * pc[:, 1] / pc[:, 2] + CAM.cy).astype(int)
    depth = np.full((CAM.height, CAM.width), np.inf)
    np.minimum.at(depth, (v, u), pc[:, 2])
    mask = np.isfinite(depth)
    vs, us = np.nonzero(mask)
    region = Region(
        mask=mask,
        pixels=int(mask.sum()),
        bbox=(int(us.min()), int(vs.min()), int(us.max()) + 1, int(vs.max()) + 1),
        plane=0,
        height_m=float(hz.max()),
        centroid=pc.mean(axis=0),
        extent_m=float(max(spec.size)),
        area_m2=0.0,
        bounds=np.zeros(3),
    )
    n = R_CAM @ np.array([0.0, 0.0, 1.0])
    plane = Plane(normal=n, offset=float(n @ T_CAM), inliers=100)
    com = mass_properties(spec)[0]
    com_world = np.array(
        [
            c * com[0] - s * com[1] + xy[0],
            s * com[0] + c * com[1] + xy[1],
            com[2] + spec.size[2] / 2,
        ]
    )
    return np.where(mask, depth, 0.0), region, plane, R_CAM @ com_world + T_CAM


@pytest.mark.parametrize("name", ["Wrench", "AllenKey", "Screwdriver", "Drill", "Axis2", "M20_100"])
def test_the_centre_of_gravity_of_a_part_lying_anywhere(catalog, name: str) -> None:
    fitter = ShapeFitter(catalog)
    rng = np.random.default_rng(7)
    for _ in range(3):
        yaw, xy = rng.uniform(-np.pi, np.pi), rng.uniform(-0.05, 0.05, 2)
        depth, region, plane, com = _seen(catalog[name], yaw, xy)
        fit = fitter.fit(name, region, plane, depth, CAM)
        assert fit is not None and fit.explained > 0.85, name
        # within 2.5 mm (the fit's cells are 2.5 mm): paper 000's pickup rate above 0.94
        assert np.linalg.norm(fit.com - com) < 0.0025, (name, fit.com - com)


def test_a_part_half_hidden_still_fits_by_its_visible_half(catalog) -> None:
    """The Axis2 holds its weight at one end: with the other half hidden, the mean of what is
    seen is centimetres off, the fit is not."""
    spec = catalog["Axis2"]
    depth, region, plane, com = _seen(spec, 0.7, (0.01, -0.02), hide_x_above=0.0)
    fit = ShapeFitter(catalog).fit("Axis2", region, plane, depth, CAM)
    assert fit is not None
    seen = region.mask.nonzero()
    z = depth[seen]
    mean = np.array(
        [
            ((seen[1] - CAM.cx) / CAM.fx * z).mean(),
            ((seen[0] - CAM.cy) / CAM.fy * z).mean(),
            z.mean(),
        ]
    )
    assert np.linalg.norm(fit.com - com) < 0.003 < np.linalg.norm(mean - com)


def test_a_region_that_is_not_the_part_is_not_fitted(catalog) -> None:
    """An M20 nut laid over a drill's heights explains few of them: no fit."""
    depth, region, plane, _ = _seen(catalog["Drill"], 0.3, (0.0, 0.0))
    assert ShapeFitter(catalog).fit("M20", region, plane, depth, CAM) is None


def test_too_few_measured_points_give_no_fit(catalog) -> None:
    depth, region, plane, _ = _seen(catalog["Spacer"], 0.0, (0.0, 0.0))
    assert ShapeFitter(catalog).fit("Spacer", region, plane, np.zeros_like(depth), CAM) is None


def test_a_box_whose_far_end_is_hidden_is_not_placed(catalog) -> None:
    """A profile is the same along its length: with one end hidden it could lie anywhere along
    it, so the fit gives no centre of gravity rather than a guess; seen whole, it does."""
    fitter = ShapeFitter(catalog)
    depth, region, plane, com = _seen(catalog["F20_20_B"], 0.4, (0.0, 0.01), hide_x_above=-0.01)
    assert fitter.fit("F20_20_B", region, plane, depth, CAM) is None
    depth, region, plane, com = _seen(catalog["F20_20_B"], 0.4, (0.0, 0.01))
    fit = fitter.fit("F20_20_B", region, plane, depth, CAM)
    assert fit is not None and np.linalg.norm(fit.com - com) < 0.0025


def test_a_long_part_seen_long_is_searched_along_what_is_seen(catalog, monkeypatch) -> None:
    """The screwdriver seen whole: only yaws near its measured long axis (either way round)
    are searched, and the fit still finds it; a nut is searched at every distinct yaw."""
    from grasp_pipeline.perception.instances import shape_fit as sf

    fitter = ShapeFitter(catalog)
    yaw = 1.1
    depth, region, plane, com = _seen(catalog["Screwdriver"], yaw, (0.02, 0.0))
    part = fitter.part("Screwdriver")
    searched = []
    real = sf._yaws
    monkeypatch.setattr(sf, "_yaws", lambda p, r: searched.append(real(p, r)) or searched[-1])
    fit = fitter.fit("Screwdriver", region, plane, depth, CAM)
    assert fit is not None and np.linalg.norm(fit.com - com) < 0.0025
    ks = searched[0]
    assert 0 < len(ks) <= len(part.coarse.distinct) // 3
    nut = fitter.part("M20")
    assert nut.elongation < sf.ELONGATED  # round: every distinct yaw
