"""Where a part's centre of gravity is, from its known shape laid over what the depth shows.

The classifier names a region; the catalog knows that part's solid (``objects.top_view``: its
height above the surface seen from straight above, as it lies). Laid on the region's support
plane at the yaw and place that best explain the region's measured heights, the solid carries
its centre of gravity with it, to a few millimetres where the pickup network's heat map (an
eighth of the crop a cell) and the mean of the visible points (the shaded or hidden side missing)
are off by a centimetre on long parts.

Fit: the region's points go into a grid on the plane (``cell_m`` cells, the highest point of
each). For every yaw (``yaw_step_deg`` apart) the template's cost at every place is one
correlation (OpenCV ``matchTemplate``, three channels): each measured cell pays its squared
height error (``/ sigma_m^2``) where the part would be, ``outside_cost`` where it would not.
Cells the camera does not see cost nothing, so a part half under a neighbour still fits by its
visible half. The fit is kept when the measured cells it explains make up ``min_explained`` of
the region (otherwise the region is not that part lying flat: a tumbled part, a wrong label).
Nor is a fit kept that could slide or turn: when places costing little more than the best put
the centre of gravity over a centimetre away, the depth does not tell where it is.
The search is coarse to fine: every distinct yaw at twice the cells and yaw steps, then the best
``CANDIDATES`` again near their places at the fine grid, with a parabola between cells.

The detector's pickup pixel for a fitted region is ``weight`` of the fit's centre of gravity and
the rest of the pickup network's: on the tuning frames (rulebook parts, both cameras, 120
frames) paper 000's pickup rate over the detected asks was 0.854 for the network alone, 0.872
for the fit where kept, 0.878 for the blend (0.868 with the ambiguity rule; docs/parts.md step 7).

The detector runs it only when asked (``PartsDetector(..., shape_fit=True)``): through the ROS
nodes the Franka picked 17 of 20 clutter scenes with it against 20 of 20 without it, on the same
scenes and code (a wrench pinned under a screwdriver's shaft, whose centre of gravity lay under
the shaft, was missed twice): a point nearer the centre of gravity is not a better place to
close the fingers when something lies on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics, deproject, project
from grasp_pipeline.perception.instances.geometry import Plane, Region
from grasp_pipeline.perception.planar_axis import weighted_pca_axis

SUBSAMPLES = 4  # per cell side, where a template cell looks for the part
COARSE = 2  # the first search's cells and yaw steps are this many times the fine ones
MIN_POINTS = 20  # measured pixels a region needs for a fit
CANDIDATES = 3  # coarse yaws refined (each at its best place)
# a fit is ambiguous (and not kept) when places costing at most AMBIGUOUS_CELLS uncovered cells
# more than the best put the centre of gravity AMBIGUOUS_M away from it: a box whose far end is
# hidden slides along its length, a screwdriver seen by its middle turns end for end
AMBIGUOUS_CELLS = 2.0
AMBIGUOUS_M = 0.01
# the part's box centre is searched up to REACH coarse cells beyond the measured cells' box
REACH = 4
# a long part (footprint ELONGATED times longer than wide) seen long lies along what is seen:
# only yaws within YAW_WINDOW_DEG of that (either way round) are searched
ELONGATED = 2.5
YAW_WINDOW_DEG = 25.0


@dataclass(frozen=True)
class FitConfig:
    """``cell_m``/``yaw_step_deg``: the fine search's grid (the coarse one's are COARSE times
    larger); ``sigma_m``: the height error one measured cell may have; ``outside_cost``: what a
    measured cell the part does not cover costs (in squared sigmas); ``min_explained``: the
    share of measured cells a kept fit covers; ``max_points``: pixels taken of a region;
    ``weight``: the fit's share of a pickup pixel, the pickup network's the rest. The last two
    settings were chosen on the tuning frames (seeds 7767+, never the hold-out's)."""

    cell_m: float = 0.0025
    yaw_step_deg: float = 5.0
    sigma_m: float = 0.004
    outside_cost: float = 4.0
    min_explained: float = 0.8
    max_points: int = 4000
    weight: float = 0.7


@dataclass(frozen=True)
class ShapeFit:
    """``com``: the centre of gravity (camera frame, m); ``yaw``: the part's x axis in the plane
    (rad, about the plane normal from the plane's first axis); ``explained``: share of the
    region's measured cells the part covers; ``rms_m``: their height error."""

    com: np.ndarray
    yaw: float
    explained: float
    rms_m: float

    def extras(self) -> dict:
        """What a detection reports of the fit (its ``extras``)."""
        return {
            "fit_explained": round(self.explained, 3),
            "fit_rms_mm": round(1e3 * self.rms_m, 2),
            "fit_yaw_rad": round(self.yaw, 4),
        }


class _Template:
    """One part's top view at every yaw (``yaw_step_deg`` apart), at ``cell_m`` cells, as the
    three correlation channels of the cost, centred on the part's box centre."""

    def __init__(
        self,
        top: np.ndarray,
        top_cell_m: float,
        size: tuple[float, float, float],
        cell_m: float,
        yaw_step_deg: float,
        cfg: FitConfig,
    ) -> None:
        half = 0.5 * math.hypot(size[0], size[1])
        n = 2 * math.ceil(half / cell_m) + 1
        self.side, self.cell_m = n, cell_m
        self.yaws = np.deg2rad(np.arange(0.0, 360.0, yaw_step_deg))
        off = (np.arange(n) - (n - 1) / 2) * cell_m  # cell centres about the template centre
        dx, dy = np.meshgrid(off, off)
        ny, nx = top.shape
        sub = ((np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5) * cell_m
        sx, sy = (g.ravel()[:, None, None] for g in np.meshgrid(sub, sub))
        px, py = dx[None] + sx, dy[None] + sy  # every sample point of every cell
        padded = np.pad(top, 1)  # index 0 and the last: outside the part (height 0)
        s2 = cfg.sigma_m**2
        self.channels = []
        heights = []
        for yaw in self.yaws:
            c, s = math.cos(yaw), math.sin(yaw)
            ox, oy = c * px + s * py, -s * px + c * py  # plane offset -> object frame
            i = np.clip(np.floor((ox + size[0] / 2) / top_cell_m).astype(int) + 1, 0, nx + 1)
            j = np.clip(np.floor((oy + size[1] / 2) / top_cell_m).astype(int) + 1, 0, ny + 1)
            h = padded[j, i].max(axis=0)  # a cell holds the highest point of the part within it
            f = (h > 0).astype(float)
            # cost = sum over measured cells of O*[f*(hm - h)^2/s2 + (1-f)*K]
            #      = corr([O hm^2, O hm, O], [f/s2, -2h/s2, h^2/s2 - K f]) + K * sum(O)
            tpl = np.stack([f / s2, -2.0 * h / s2, h * h / s2 - cfg.outside_cost * f], axis=-1)
            self.channels.append(tpl.astype(np.float32))
            heights.append(h)
        # yaws at which the part looks as at an earlier one (a nut every 60 degrees, a ring at
        # all): searching those again finds the same places
        self.distinct = []
        for k, h in enumerate(heights):
            if not any(_same_view(heights[j], h) for j in self.distinct):
                self.distinct.append(k)


class _Raster:
    """A region's measured heights in a grid on its plane: ``img`` the three correlation
    channels (padded by ``pad`` cells), ``seen`` the measured cells; cell (row, col) is centred
    at plane coordinates (a0 + (col + 0.5) cell, b0 + (row + 0.5) cell)."""

    def __init__(self, a: np.ndarray, b: np.ndarray, h: np.ndarray, cell: float, pad: int):
        self.cell = cell
        self.a0, self.b0 = a.min() - pad * cell, b.min() - pad * cell
        col = ((a - self.a0) / cell).astype(int)
        row = ((b - self.b0) / cell).astype(int)
        hm = np.full((row.max() + pad + 1, col.max() + pad + 1), -np.inf)
        np.maximum.at(hm, (row, col), h)
        self.seen = np.isfinite(hm)
        hm = np.where(self.seen, np.clip(hm, 0.0, None), 0.0)
        seen = self.seen.astype(float)
        self.img = np.stack([seen * hm * hm, seen * hm, seen], axis=-1).astype(np.float32)

    def search(
        self, t: _Template, ks, window: tuple[int, int, int] | None = None
    ) -> tuple[list[tuple[float, int, float, float]], dict[int, np.ndarray]]:
        """(cost, yaw index, row, col) of the template's best place at each of the yaws ``ks``,
        cheapest first (row, col: where its top-left cell lies; the first refined between cells),
        and the cost of every place searched at each yaw (yaw index -> map whose cell (y, x) is
        the place (y, x) counted from the window's first cell); ``window`` = (row, col, reach)
        searches only places within ``reach`` cells of (row, col), None the whole raster."""
        import cv2

        img, r0, c0 = self.img, 0, 0
        if window is not None:
            row, col, reach = window
            H, W = img.shape[:2]
            r0, c0 = max(0, row - reach), max(0, col - reach)
            r1 = min(H, row + reach + t.side)
            c1 = min(W, col + reach + t.side)
            img = img[r0:r1, c0:c1]
        found = []
        maps = {}
        for k in ks:
            res = cv2.matchTemplate(img, t.channels[k], cv2.TM_CCORR)
            maps[k] = res
            y, x = np.unravel_index(int(np.argmin(res)), res.shape)
            found.append((float(res[y, x]), int(k), y, x))
        found.sort()
        cost, k, y, x = found[0]
        dy, dx = _subcell(maps[k], int(y), int(x))  # the best place only
        found[0] = (cost, k, y + dy, x + dx)
        return [(cost, k, r0 + y, c0 + x) for cost, k, y, x in found], maps

    def centre(self, t: _Template, row, col) -> np.ndarray:
        """Plane coordinates (..., 2) of the template's centre placed with its top-left cell at
        (row, col) (numbers or arrays)."""
        half = (t.side - 1) / 2 + 0.5
        a = self.a0 + (np.asarray(col) + half) * self.cell
        return np.stack([a, self.b0 + (np.asarray(row) + half) * self.cell], axis=-1)

    def corner(self, t: _Template, centre: np.ndarray) -> tuple[int, int]:
        """The (row, col) of the top-left cell that puts the template's centre nearest to
        ``centre`` (plane coordinates): :meth:`centre` undone."""
        half = (t.side - 1) / 2 + 0.5
        return (
            round((centre[1] - self.b0) / self.cell - half),
            round((centre[0] - self.a0) / self.cell - half),
        )


class _Part:
    """A catalog part as the fit uses it: coarse and fine templates, its centre of gravity."""

    def __init__(self, spec, cfg: FitConfig) -> None:
        from grasp_pipeline.objects import mass_properties, top_view

        top_cell = 0.001
        top = top_view(spec, top_cell)
        self.fine = _Template(top, top_cell, spec.size, cfg.cell_m, cfg.yaw_step_deg, cfg)
        self.coarse = _Template(
            top, top_cell, spec.size, COARSE * cfg.cell_m, COARSE * cfg.yaw_step_deg, cfg
        )
        self.com = np.asarray(mass_properties(spec)[0], float)
        self.com_height = float(self.com[2] + spec.size[2] / 2)
        j, i = np.nonzero(top > 0)  # its footprint's long axis, in the object frame
        self.axis, self.elongation = _long_axis((i + 0.5) * top_cell, (j + 0.5) * top_cell)

    def com_on_plane(self, centre: np.ndarray, yaw: np.ndarray | float) -> np.ndarray:
        """Plane coordinates (..., 2) of the centre of gravity of the part lying with its box
        centre at ``centre`` (..., 2) and its x axis at ``yaw`` (rad)."""
        c, s = np.cos(yaw), np.sin(yaw)
        x, y = self.com[0], self.com[1]
        return centre + np.stack([c * x - s * y, s * x + c * y], axis=-1)


class ShapeFitter:
    """Fits catalog parts to regions (see the module docstring); a part's templates are made
    when it is first fitted (or by :meth:`prepare`)."""

    def __init__(self, catalog, config: FitConfig = FitConfig()) -> None:
        self.catalog = catalog
        self.cfg = config
        self._parts: dict[str, _Part] = {}

    def part(self, label: str) -> _Part:
        if label not in self._parts:
            self._parts[label] = _Part(self.catalog[label], self.cfg)
        return self._parts[label]

    def prepare(self, labels) -> None:
        """Make the templates of ``labels`` now (about 0.1 s a part)."""
        for label in labels:
            self.part(label)

    def pickup(
        self,
        fit: ShapeFit,
        camera: CameraIntrinsics,
        network_pixel: tuple[float, float] | None,
    ) -> tuple[float, float]:
        """The pickup pixel of a fitted region: its centre of gravity's projection, drawn
        ``1 - weight`` of the way to the pickup network's (two estimates that err differently;
        on the tuning frames the blend beat either alone)."""
        u, v = project(fit.com, camera)
        if network_pixel is None:
            return float(u), float(v)
        w = self.cfg.weight
        return (
            float(w * u + (1 - w) * network_pixel[0]),
            float(w * v + (1 - w) * network_pixel[1]),
        )

    def fit(
        self,
        label: str,
        region: Region,
        plane: Plane,
        depth_m: np.ndarray,
        camera: CameraIntrinsics,
    ) -> ShapeFit | None:
        """The best pose of ``label`` lying on ``plane`` over ``region`` (None when the region
        has too few measured points, when the part covers less than ``min_explained`` of them,
        or when the fit could slide or turn; see the module docstring). ``depth_m``: the
        frame's depth in metres (non-finite or 0 where missing)."""
        cfg = self.cfg
        u0, v0, u1, v1 = region.bbox
        vs, us = np.nonzero(region.mask[v0:v1, u0:u1])
        if len(us) > cfg.max_points:
            keep = np.random.default_rng(0).choice(len(us), cfg.max_points, replace=False)
            vs, us = vs[keep], us[keep]
        vs, us = vs + v0, us + u0
        z = depth_m[vs, us]
        ok = np.isfinite(z) & (z > 0)
        if ok.sum() < MIN_POINTS:
            return None
        us, vs, z = us[ok], vs[ok], z[ok]
        pts = deproject(np.stack([us, vs], axis=-1), z, camera)
        n = np.asarray(plane.normal, float)
        axis = np.eye(3)[0 if abs(n[0]) < 0.9 else 1]  # the camera's x unless the plane faces it
        e1 = axis - (axis @ n) * n
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(n, e1)
        h = pts @ n - plane.offset
        a, b = pts @ e1, pts @ e2
        part = self.part(label)
        # coarse: every yaw, every place; fine: near the best CANDIDATES of those, at their
        # yaws and the fine yaws beside them
        coarse = _Raster(a, b, h, part.coarse.cell_m, part.coarse.side // 2 + REACH)
        fine = _Raster(a, b, h, part.fine.cell_m, part.fine.side // 2 + COARSE * REACH)
        nf = len(part.fine.yaws)
        best = (math.inf, 0, 0.0, 0.0)
        found, maps = coarse.search(part.coarse, _yaws(part, coarse))
        for _, kc, rc, cc in found[:CANDIDATES]:
            row, col = fine.corner(part.fine, coarse.centre(part.coarse, rc, cc))
            ks = [(COARSE * kc + d) % nf for d in range(-COARSE + 1, COARSE)]
            best = min(best, fine.search(part.fine, ks, (row, col, COARSE + 1))[0][0])
        cost, k, r, c = best
        tpl = part.fine.channels[k]
        ri, ci = round(r), round(c)
        seen = fine.seen[ri : ri + part.fine.side, ci : ci + part.fine.side]
        covered = tpl[: seen.shape[0], : seen.shape[1], 0] > 0
        measured = int(fine.seen.sum())
        inside = int((seen & covered).sum())
        explained = inside / max(measured, 1)
        if explained < cfg.min_explained:
            return None
        err = cost + cfg.outside_cost * inside  # the height errors of the covered cells
        rms = math.sqrt(max(err, 0.0) / max(inside, 1)) * cfg.sigma_m
        yaw = float(part.fine.yaws[k])
        g = part.com_on_plane(fine.centre(part.fine, r, c), yaw)
        if _spread(part, coarse, found, maps, g, cfg.outside_cost * AMBIGUOUS_CELLS) > AMBIGUOUS_M:
            return None
        com = g[0] * e1 + g[1] * e2 + (plane.offset + part.com_height) * n
        return ShapeFit(com=com, yaw=yaw, explained=explained, rms_m=rms)


def _subcell(res: np.ndarray, y: int, x: int) -> tuple[float, float]:
    """The minimum of ``res`` at (y, x) refined between cells: a parabola through it and its
    two neighbours along each axis (0 at an edge or where the three are not convex)."""

    def vertex(lo: float, mid: float, hi: float) -> float:
        curv = lo - 2.0 * mid + hi
        return float(np.clip(0.5 * (lo - hi) / curv, -0.5, 0.5)) if curv > 0 else 0.0

    H, W = res.shape
    dy = vertex(res[y - 1, x], res[y, x], res[y + 1, x]) if 0 < y < H - 1 else 0.0
    dx = vertex(res[y, x - 1], res[y, x], res[y, x + 1]) if 0 < x < W - 1 else 0.0
    return dy, dx


def _spread(
    part: _Part,
    raster: _Raster,
    found: list[tuple[float, int, float, float]],
    maps: dict[int, np.ndarray],
    com,
    margin: float,
) -> float:
    """How far (m) from ``com`` the centres of gravity of the places costing at most ``margin``
    more than the best of the coarse search over the whole ``raster`` (``found`` and ``maps``,
    as :meth:`_Raster.search` returns them) lie."""
    bar = found[0][0] + margin
    far = 0.0
    for cost, k, _, _ in found:
        if cost > bar:
            break  # found is sorted by cost
        rows, cols = np.nonzero(maps[k] <= bar)
        centres = raster.centre(part.coarse, rows, cols)
        coms = part.com_on_plane(centres, float(part.coarse.yaws[k]))
        far = max(far, float(np.sqrt(((coms - com) ** 2).sum(axis=1)).max()))
    return far


def _same_view(a: np.ndarray, b: np.ndarray, tol_m: float = 0.001) -> bool:
    """Two top views (heights, m) agree but for 1 % of their cells."""
    return float(np.mean(np.abs(a - b) > tol_m)) < 0.01


def _long_axis(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(angle of the long axis in rad, long / short spread) of 2-D points (the angle is used
    modulo pi: the axis's sign is :func:`weighted_pca_axis`'s)."""
    if len(x) < 3:
        return 0.0, 1.0
    axis, ratio = weighted_pca_axis(x, y, np.ones(len(x)))
    return math.atan2(axis[1], axis[0]), ratio


def _yaws(part: _Part, raster: _Raster) -> list[int]:
    """The coarse yaws worth searching: a long part seen long lies along the measured cells'
    long axis (or turned end for end); otherwise every distinct yaw."""
    distinct = part.coarse.distinct
    if part.elongation < ELONGATED:
        return distinct
    rows, cols = np.nonzero(raster.seen)
    angle, ratio = _long_axis(cols.astype(float), rows.astype(float))
    if ratio < ELONGATED:
        return distinct
    window = math.radians(YAW_WINDOW_DEG)
    off = (part.coarse.yaws[distinct] + part.axis - angle) % math.pi  # either way round
    near = np.minimum(off, math.pi - off) <= window
    return [k for k, ok in zip(distinct, near, strict=True) if ok] or distinct
