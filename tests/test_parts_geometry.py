"""Depth geometry of the parts detector: support planes and the regions standing out of them."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.perception.instances.crops import CropSpec, region_crop
from grasp_pipeline.perception.instances.geometry import GeometryConfig, segment_instances

CAM = CameraIntrinsics(width=320, height=240, fx=300.0, fy=300.0, cx=160.0, cy=120.0)


def _scene(rng: np.random.Generator, noise_m: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """Camera 0.5 m above a table, looking straight down; a raised shelf (5 cm) on the right
    third; a 3 cm box and a 1 cm plate on the table and a 2 cm box on the shelf. Returns depth
    (m, with noise and 1 % dropouts) and the label image (0 = none, 1..3 = parts)."""
    depth = np.full((CAM.height, CAM.width), 0.5, np.float32)
    labels = np.zeros(depth.shape, np.int32)
    depth[:, 220:] = 0.45  # the shelf
    depth[60:100, 40:90] = 0.47
    labels[60:100, 40:90] = 1
    depth[150:170, 100:160] = 0.49
    labels[150:170, 100:160] = 2
    depth[100:130, 250:290] = 0.43
    labels[100:130, 250:290] = 3
    depth = depth + rng.normal(0, noise_m, depth.shape).astype(np.float32)
    depth[rng.random(depth.shape) < 0.01] = np.nan
    return depth, labels


def test_parts_on_two_surfaces_are_separate_regions() -> None:
    depth, labels = _scene(np.random.default_rng(0))
    seg = segment_instances(depth, CAM, GeometryConfig(min_plane_area_m2=0.005))
    assert len(seg.planes) == 2
    offsets = sorted(-p.offset for p in seg.planes)  # distance of each plane from the camera
    assert offsets == pytest.approx([0.45, 0.5], abs=0.003)
    assert len(seg.regions) == 3
    for part in (1, 2, 3):
        truth = labels == part
        best = max(seg.regions, key=lambda r: (r.mask & truth).sum())
        iou = (best.mask & truth).sum() / (best.mask | truth).sum()
        assert iou > 0.75, (part, iou)  # masks come from a half-resolution grid
    by_height = sorted(round(r.height_m, 2) for r in seg.regions)
    assert by_height == pytest.approx([0.01, 0.02, 0.03], abs=0.004)
    box = max(seg.regions, key=lambda r: (r.mask & (labels == 1)).sum())
    assert box.centroid[2] == pytest.approx(0.47, abs=0.003)
    # a 50 x 40 px box at 0.47 m is 7.8 x 6.3 cm: its diagonal is the extent
    assert box.extent_m == pytest.approx(0.1, abs=0.015)
    assert np.nanmax(seg.height_m[labels == 1]) == pytest.approx(0.03, abs=0.004)


def test_no_surface_or_no_depth_gives_no_regions() -> None:
    empty = np.full((CAM.height, CAM.width), np.nan, np.float32)
    seg = segment_instances(empty, CAM)
    assert seg.regions == [] and seg.planes == []
    flat = np.full((CAM.height, CAM.width), 0.5, np.float32)
    assert segment_instances(flat, CAM).regions == []  # a bare table


def test_crops_carry_the_metric_size_whatever_the_distance() -> None:
    """The same part nearer the camera gives a larger image region but the same size features."""
    spec = CropSpec(size=32)
    feats = []
    for z_table in (0.4, 0.6):
        depth = np.full((CAM.height, CAM.width), z_table, np.float32)
        half = round(0.03 * CAM.fx / (z_table - 0.03))  # a 6 x 6 x 3 cm block
        depth[120 - half : 120 + half, 160 - half : 160 + half] = z_table - 0.03
        seg = segment_instances(depth, CAM, GeometryConfig(min_plane_area_m2=0.005))
        assert len(seg.regions) == 1
        rgb = np.zeros((CAM.height, CAM.width, 3), np.uint8)
        x, f = region_crop(rgb, seg.height_m, seg.regions[0], CAM, spec)
        assert x.shape == (5, 32, 32) and x.dtype == np.float32
        assert x[4].sum() > 0 and x[3].max() == pytest.approx(0.3, abs=0.03)  # 3 cm / 0.1 m
        feats.append(f)
    np.testing.assert_allclose(feats[0][:3], feats[1][:3], rtol=0.1)


def test_a_part_missing_half_its_depth_is_still_a_region_marked_sparse() -> None:
    """A 2 cm high 8 x 8 px patch at 0.48 m (1.6 cm^2) with depth on half of its cells only (a
    checkerboard on the half-resolution grid): its measured area (about 1 cm^2) is below a
    1.3 cm^2 minimum, with the cells without depth it is not (fails before: the region was dropped, as
    the half-lost rings of metal nuts were)."""
    rng = np.random.default_rng(3)
    depth = np.full((CAM.height, CAM.width), 0.5, np.float32)
    depth += rng.normal(0, 0.0005, depth.shape).astype(np.float32)
    depth[100:108, 100:108] = 0.48
    v, u = np.mgrid[0 : CAM.height, 0 : CAM.width]
    holes = ((v // 2 + u // 2) % 2 == 0) & (v >= 100) & (v < 108) & (u >= 100) & (u < 108)
    depth[holes] = np.nan
    cfg = GeometryConfig(min_area_m2=1.3e-4)
    seg = segment_instances(depth, CAM, cfg)
    assert len(seg.regions) == 1
    r = seg.regions[0]
    assert r.sparse and r.area_m2 < cfg.min_area_m2
    # the same patch with all its depth: a region, not sparse
    full = np.where(holes, 0.48, depth).astype(np.float32)
    seg = segment_instances(full, CAM, cfg)
    assert len(seg.regions) == 1 and not seg.regions[0].sparse
    # a patch too small even with its holes filled is no region
    small = np.full((CAM.height, CAM.width), 0.5, np.float32)
    small[100:106, 100:106] = 0.48  # 9 cells, 0.9 cm^2
    assert segment_instances(small, CAM, cfg).regions == []


def _touching(ramp_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Camera 0.5 m above a table looking straight down: a 2 cm tall box and a 4 cm tall box
    side by side, the taller one's side a ramp ``ramp_px`` wide (seen at an angle), no depth
    step between neighbouring pixels large enough to part them. Depth (m) and labels (1, 2)."""
    depth = np.full((CAM.height, CAM.width), 0.5, np.float32)
    labels = np.zeros(depth.shape, np.int32)
    depth[80:160, 60:140] = 0.48
    labels[80:160, 60:140] = 1
    depth[80:160, 140 + ramp_px : 220] = 0.46
    labels[80:160, 140:220] = 2
    depth[80:160, 140 : 140 + ramp_px] = np.linspace(0.48, 0.46, ramp_px + 2)[1:-1]
    return depth + np.random.default_rng(3).normal(0, 5e-4, depth.shape).astype(np.float32), labels


def test_touching_parts_of_different_heights_split_into_their_tops() -> None:
    """One region for two touching boxes (a ramp, no depth step, no colour): split_region gives
    each box its own piece at its own height (fails before: no split existed)."""
    from grasp_pipeline.perception.instances.split import split_region

    depth, labels = _touching(ramp_px=8)
    seg = segment_instances(depth, CAM)
    assert len(seg.regions) == 1  # the geometry alone keeps them together
    pieces = split_region(seg, seg.regions[0])
    assert len(pieces) == 2
    pieces.sort(key=lambda r: r.height_m)
    tops = [float(np.nanmedian(seg.height_m[r.mask])) for r in pieces]
    assert tops == pytest.approx([0.02, 0.04], abs=0.003)
    for part, piece in zip((1, 2), pieces, strict=True):
        truth = labels == part
        iou = (piece.mask & truth).sum() / (piece.mask | truth).sum()
        assert iou > 0.75, (part, iou)  # masks from the half-resolution grid
        assert piece.bbox[2] - piece.bbox[0] < 110  # its own box, not the whole region's


def test_one_part_with_a_sloped_top_is_not_split() -> None:
    """A wedge rising from 1 to 4 cm has no two levels: no pieces."""
    from grasp_pipeline.perception.instances.split import split_region

    depth = np.full((CAM.height, CAM.width), 0.5, np.float32)
    depth[80:160, 60:220] = 0.49 - np.linspace(0.0, 0.03, 160)[None, :]
    seg = segment_instances(depth, CAM)
    assert len(seg.regions) == 1
    assert split_region(seg, seg.regions[0]) == []


def test_a_taller_parts_long_side_stays_with_it() -> None:
    """Seen at an angle, the 4 cm box's side is a 40-pixel ramp down to the 2 cm box it touches;
    no cell of the lower piece rises above the lower top, and each piece is its box (fails
    before: the flooding gave half of the ramp, up to 3 cm high, to the 2 cm box)."""
    from grasp_pipeline.perception.instances.split import ABOVE_TOP_M, split_region

    depth, labels = _touching(ramp_px=40)
    seg = segment_instances(depth, CAM)
    assert len(seg.regions) == 1
    pieces = sorted(split_region(seg, seg.regions[0]), key=lambda r: r.height_m)
    assert len(pieces) == 2
    low = seg.height_m[pieces[0].mask]
    assert np.nanmax(low) < 0.02 + ABOVE_TOP_M + 0.002  # sensor noise of the 0.5 mm kind
    for part, piece in zip((1, 2), pieces, strict=True):
        truth = labels == part
        iou = (piece.mask & truth).sum() / (piece.mask | truth).sum()
        assert iou > 0.8, (part, iou)


def test_region_percentiles_are_numpys_bit_for_bit() -> None:
    """The regions' extents and heights come from a one-partition percentile (less overhead per
    region than numpy's call); it must give numpy's values exactly, or detections would move."""
    from grasp_pipeline.perception.instances.geometry import _percentiles

    rng = np.random.default_rng(3)
    for n in [1, 2, 3, 4, 7, 50, 51, 99, 100, 101, *rng.integers(4, 3000, 300).tolist()]:
        points = (rng.normal(size=(n, 3)) * rng.uniform(0.01, 1.0)).astype(np.float32)
        want = np.percentile(points, [2, 98], axis=0)
        got = _percentiles(points, (2.0, 98.0), scalar=False)
        assert got.dtype == want.dtype and np.array_equal(got, want), n
        heights = points[:, 0]
        want_h = np.percentile(heights, 95)
        got_h = _percentiles(heights, (95.0,), scalar=True)
        assert got_h.dtype == want_h.dtype and np.array_equal(got_h, want_h), n
