"""``PartsDetector``: instances from depth geometry, each named by the crop classifier.

640x480 (any size) RGB-D in; one detection per region standing out of a support plane whose
class is a catalog part ("unknown" regions are counted, not reported). Points and poses in the
camera optical frame, metres; pixels (u, v) of the input image.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics, deproject, project
from grasp_pipeline.perception.detector import (
    Detection,
    check_frame,
    check_targets,
    depth_in_metres,
    planar_grasp_detection,
)
from grasp_pipeline.perception.instances.boundary import splitter_from_entry
from grasp_pipeline.perception.instances.checkpoint import UNKNOWN, load_classifier
from grasp_pipeline.perception.instances.crops import crop_window, region_crop
from grasp_pipeline.perception.instances.geometry import (
    Plane,
    Region,
    Segmentation,
    footprint_extents,
    merge_regions,
    regions_touch,
    segment_instances,
    union_bounds,
)
from grasp_pipeline.perception.instances.pickup import locator_from_entry, to_crop, to_image
from grasp_pipeline.perception.instances.shape_fit import ShapeFitter
from grasp_pipeline.perception.instances.split import split_region
from grasp_pipeline.perception.network_runtime import NetworkRunner
from grasp_pipeline.perception.planar_axis import grasp_frame, weighted_pca_axis
from grasp_pipeline.perception.threads import blas_on_calling_thread

# Fragments of one label this close (pixels) may join: a thin handle loses pixels to depth noise
# (a 5 mm spanner lying flat came back as three pieces, 1.4 and 3.3 px apart).
JOIN_GAP_PX = 5
# Pieces of one label farther apart join when together they lie along one part: on one support
# plane, their footprint no longer than FAR_JOIN_LENGTH x the part's length and no wider than
# FAR_JOIN_WIDTH x its width + FAR_JOIN_MARGIN_M (a 5 mm spanner whose middle sinks into the
# depth noise, or a part seen on both sides of another lying across it; two parts side by side
# make a footprint twice as wide and stay two).
FAR_JOIN_LENGTH = 1.1
FAR_JOIN_WIDTH = 1.25
FAR_JOIN_MARGIN_M = 0.003
FAR_JOIN_OCCLUDER_M = 0.01  # something this much higher between two pieces keeps them apart
# A region that is large enough only with its cells without depth (a metal nut's ring loses half
# of its depth) is reported when the classifier is this sure of it (such scraps of larger parts
# were named with 0.5-0.7).
SPARSE_MIN_PROBABILITY = 0.9
# A region the classifier names with less than SPLIT_BELOW_PROBABILITY is tried in pieces (levels
# of different heights, see perception.instances.split, then the boundaries the boundary network
# draws in its crop, see perception.instances.boundary); the pieces replace it when the
# classifier names every piece with at least SPLIT_PIECE_PROBABILITY and at least as surely as
# the whole, or names one of them that surely as a part of another class than the whole's (a
# profile cut from a region named as the drill it touches, beside a drill piece named with
# less; see split_accepted). Touching parts of one colour come back as one region, often named
# as the larger of them with more than 0.9 (a profile holding a quarter of its region's
# pixels, a bolt against a profile), so sure regions are tried too; the classifier is trained
# on such pieces (training.parts_data).
SPLIT_BELOW_PROBABILITY = 0.99
SPLIT_PIECE_PROBABILITY = 0.8
# ... but a region named with at least SPLIT_SURE_PROBABILITY whose 3-D extent stays within the
# named part's diagonal is that one part, not two: it is not tried (two touching parts make a
# region larger than either). On 400 tuning frames (seeds 7001-7004) this left the hits, false
# objects and pickups as they were and halved the regions tried.
SPLIT_SURE_PROBABILITY = 0.9
# A crop the classifier names with less than this is classified again half turned and mirrored
# both ways (as trained: a part seen from above has no up) and the 4 answers averaged (all 8
# quarter turns and flips named the parts no better on hold-out frames and took twice the time).
# On 600 tuning frames (seeds 7777/7778, 7001/7002) 0.8 gave the hits and false objects of 0.95
# with 28 % fewer crops a frame (0.7 added false objects; only the half turn, or it and one
# mirror: fewer hits, more false objects).
VIEWS_BELOW_PROBABILITY = 0.8


def split_accepted(whole: np.ndarray, pieces: np.ndarray, unknown: int) -> bool:
    """Whether a region with class probabilities ``whole`` (classes,) is replaced by its pieces
    with ``pieces`` (n, classes); ``unknown``: the index of "unknown". Yes when every piece is
    named with at least max(SPLIT_PIECE_PROBABILITY, the whole's top probability), or when one
    piece is named that surely as a catalog part of a class the whole was not named (on 600
    tuning frames, seeds 7777/7778 and 7001/7002, the second rule added 6 hits of 600 asks and
    one false object: the right piece of a merged region was often kept out by a sliver of it
    named with less)."""
    bar = max(SPLIT_PIECE_PROBABILITY, float(whole.max()))
    top, named = pieces.max(axis=1), pieces.argmax(axis=1)
    if top.min() >= bar:
        return True
    return bool(np.any((top >= bar) & (named != unknown) & (named != int(whole.argmax()))))


def region_pose(
    region: Region, camera: CameraIntrinsics, pixel: tuple[float, float] | None = None
) -> tuple[tuple[float, float], np.ndarray, np.ndarray]:
    """(pickup pixel, 3-D pickup point, 3x3 grasp frame) of a region: its centre (the mean of its
    3-D points, the centre of gravity of what is seen) or the given ``pixel`` (the pickup
    network's centre of gravity) at the mean's depth, and its dominant image axis."""
    c = region.centroid
    if pixel is None:
        pixel = project(c, camera)
    u = float(np.clip(pixel[0], 0.0, camera.width - 1.0))
    v = float(np.clip(pixel[1], 0.0, camera.height - 1.0))
    point = deproject((u, v), c[2], camera)
    u0, v0, u1, v1 = region.bbox
    vs, us = np.nonzero(region.mask[v0:v1, u0:u1])
    if len(us) >= 3:
        axis, _ = weighted_pca_axis(us.astype(float), vs.astype(float), np.ones(len(us)))
    else:
        axis = np.array([1.0, 0.0])
    return (u, v), point.astype(float), grasp_frame((axis[0], axis[1]), camera.fx, camera.fy)


def on_region(pixel: np.ndarray, region: Region) -> tuple[float, float]:
    """``pixel`` when it lies within the convex hull of the region's mask (a ring's hole, the
    inside of an Allen key's L), else the region's pixel nearest to it: a centre of gravity
    under a neighbour cannot be picked there."""
    import cv2

    H, W = region.mask.shape
    ui, vi = round(float(pixel[0])), round(float(pixel[1]))
    if 0 <= ui < W and 0 <= vi < H and region.mask[vi, ui]:  # on the region itself
        return float(pixel[0]), float(pixel[1])
    u0, v0, u1, v1 = region.bbox
    pts = cv2.findNonZero(region.mask[v0:v1, u0:u1].astype(np.uint8))
    if pts is None:
        return float(pixel[0]), float(pixel[1])
    hull = cv2.convexHull(pts)
    local = (float(pixel[0] - u0), float(pixel[1] - v0))
    if cv2.pointPolygonTest(hull, local, False) >= 0:
        return float(pixel[0]), float(pixel[1])
    p = pts.reshape(-1, 2).astype(float)
    k = int(np.argmin(((p - local) ** 2).sum(axis=1)))
    return float(p[k, 0] + u0), float(p[k, 1] + v0)


class PartsDetector:
    """Loads a crop classifier checkpoint and detects (see the module docstring).

    ``labels``: the catalog classes it can report (the checkpoint's, without "unknown").
    ``runtime``: what runs its networks, one of
    :data:`~grasp_pipeline.perception.network_runtime.RUNTIMES` (``"auto"``: ONNX Runtime on
    the CPU when installed, else eager PyTorch; the same detections, see
    :mod:`~grasp_pipeline.perception.network_runtime`).
    ``shape_fit``: lay each part's catalog solid over its region and pick nearer its centre of
    gravity (:mod:`~grasp_pipeline.perception.instances.shape_fit`; off by default, see there).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        device: str = "cpu",
        runtime: str = "auto",
        shape_fit: bool = False,
    ) -> None:
        self.model, self.crop, self.geometry, names, state = load_classifier(checkpoint, device)
        self.classifier = NetworkRunner(self.model, runtime, device)
        self.runtime = self.classifier.runtime
        # the pickup network shipped in the checkpoint (None: pick at the 3-D mean)
        self.pickup = (
            locator_from_entry(state["pickup"], checkpoint, device, runtime)
            if "pickup" in state
            else None
        )
        # the boundary network shipped in the checkpoint (None: split by heights alone)
        self.boundary = (
            splitter_from_entry(state["boundary"], checkpoint, device, runtime)
            if "boundary" in state
            else None
        )
        if self.pickup is not None and self.pickup.by_class:
            told = self.pickup.net.config.classes
            if told != len(names):
                from grasp_pipeline.perception.checkpoint import CheckpointError

                raise CheckpointError(
                    f"{checkpoint}: its pickup network knows {told} classes, the classifier "
                    f"{len(names)}"
                )
        self._prepare_runtime()
        self.device = device
        self.class_names = names
        self.labels = [n for n in names if n != UNKNOWN]
        self.path = Path(checkpoint)
        self.last_timing_ms: dict[str, float] = {}
        self.last_unknown = 0
        from grasp_pipeline.objects import load_catalog

        catalog = load_catalog()
        # a part's largest 3-D diagonal (m): fragments join while their union stays within it
        self.diagonal_m = {
            n: float(np.linalg.norm(catalog[n].size)) for n in self.labels if n in catalog.names
        }
        # (length, width) of a part lying flat (m): far fragments join within its footprint
        self.footprint_m = {
            n: tuple(sorted(catalog[n].size, reverse=True)[:2])
            for n in self.labels
            if n in catalog.names
        }
        # the parts' solids, laid over their regions to place the centre of gravity (None:
        # the pickup network's or the 3-D mean's place alone); off by default, for the reason
        # the shape_fit module gives
        self.fitter: ShapeFitter | None = None
        if shape_fit:
            self.fitter = ShapeFitter(catalog)
            self.fitter.prepare([n for n in self.labels if n in catalog.names])

    def _prepare_runtime(self) -> None:
        """Each network's graph made for the crops it will see, at load time rather than in
        the first frame's detection."""
        from grasp_pipeline.perception.instances.crops import CHANNELS, FEATURES

        size = self.crop.size
        self.classifier.prepare(
            np.zeros((1, CHANNELS, size, size), np.float32), np.zeros((1, FEATURES), np.float32)
        )
        for network in (self.boundary, self.pickup):
            if network is not None:
                network.prepare(size)

    def classify(
        self,
        rgb: np.ndarray,
        height_m: np.ndarray,
        regions: Sequence[Region],
        camera: CameraIntrinsics,
        views: bool = True,
        cut: dict[int, tuple[Region, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """(len(regions), classes) class probabilities of the regions' crops (``views``: doubtful
        crops named from several views, see :meth:`probabilities`). ``cut``: where to keep each
        region's crop image, as ``id(region)`` -> (region, crop), for the pickup network of the
        same frame (the region is kept so that its id is not reused)."""
        if not regions:
            return np.zeros((0, len(self.class_names)), np.float32)
        crops = [region_crop(rgb, height_m, r, camera, self.crop) for r in regions]
        if cut is not None:
            cut.update({id(r): (r, c[0]) for r, c in zip(regions, crops, strict=True)})
        x = np.stack([c[0] for c in crops])
        f = np.stack([c[1] for c in crops])
        return self.probabilities(x, f, views)

    def probabilities(self, x: np.ndarray, f: np.ndarray, views: bool = True) -> np.ndarray:
        """(B, classes) class probabilities of crops ``x`` (B, CHANNELS, S, S) with size features
        ``f`` (B, FEATURES); a crop named with less than VIEWS_BELOW_PROBABILITY gets the mean
        over its square as it is, half turned, and mirrored left-right and up-down."""
        from scipy.special import softmax

        probs = softmax(self.classifier(x, f), axis=1)
        doubt = np.flatnonzero(probs.max(axis=1) < VIEWS_BELOW_PROBABILITY)
        if views and len(doubt):  # the doubtful crops again, half turned and mirrored both ways
            xd, fd = x[doubt], f[doubt]
            turned = [np.flip(xd, axis=a) for a in ((2, 3), 3, 2)]
            pv = softmax(self.classifier(np.concatenate(turned), np.tile(fd, (3, 1))), axis=1)
            pv = pv.reshape(len(turned), len(doubt), -1).sum(axis=0)
            probs[doubt] = (probs[doubt] + pv) / (len(turned) + 1)
        return probs

    def split_touching(
        self,
        rgb: np.ndarray,
        seg: Segmentation,
        probs: np.ndarray,
        camera: CameraIntrinsics,
        cut: dict[int, tuple[Region, np.ndarray]] | None = None,
    ) -> tuple[list[Region], np.ndarray]:
        """``seg``'s regions and their class probabilities ``probs``, with each region named with
        less than SPLIT_BELOW_PROBABILITY replaced by its pieces when the classifier's names for
        them are accepted (:func:`split_accepted`): the pieces at the heights of its tops
        (:func:`split_region`; not tried for a region surely one part, :meth:`one_part`) when
        they are, else those along the boundaries the boundary network draws in its crop
        (:mod:`~grasp_pipeline.perception.instances.boundary`, when the checkpoint has one)."""
        regions = list(seg.regions)
        doubtful = [i for i in range(len(regions)) if probs[i].max() < SPLIT_BELOW_PROBABILITY]
        # candidate splits in order of preference: by heights (not for a region surely one
        # part), then by drawn boundaries (for every doubtful region: the network finds a
        # spacer or a nut against a drill in a region named Drill with 0.95)
        candidates = [
            (i, split_region(seg, regions[i], self.geometry))
            for i in doubtful
            if not self.one_part(regions[i], probs[i])
        ]
        if self.boundary is not None and doubtful:
            cut = {} if cut is None else cut
            for i in doubtful:
                if id(regions[i]) not in cut:
                    crop = region_crop(rgb, seg.height_m, regions[i], camera, self.crop)[0]
                    cut[id(regions[i])] = (regions[i], crop)
            crops = np.stack([cut[id(regions[i])][1] for i in doubtful])
            drawn = self.boundary.split(
                seg, [regions[i] for i in doubtful], crops, camera, self.crop, self.geometry
            )
            candidates += list(zip(doubtful, drawn, strict=True))
        candidates = [(i, p) for i, p in candidates if p]
        if not candidates:
            return regions, probs
        # one view each: a piece must be named surely as it is
        piece_probs = self.classify(
            rgb, seg.height_m, [r for _, p in candidates for r in p], camera, False, cut
        )
        unknown = self.class_names.index(UNKNOWN)
        accepted: dict[int, tuple[list[Region], np.ndarray]] = {}
        start = 0
        for i, pieces in candidates:
            mine = piece_probs[start : start + len(pieces)]
            start += len(pieces)
            if i not in accepted and split_accepted(probs[i], mine, unknown):
                accepted[i] = (pieces, mine)
        out_regions: list[Region] = []
        out_probs: list[np.ndarray] = []
        for i, region in enumerate(regions):
            if i in accepted:
                out_regions.extend(accepted[i][0])
                out_probs.extend(accepted[i][1])
            else:
                out_regions.append(region)
                out_probs.append(probs[i])
        return out_regions, np.stack(out_probs)

    def one_part(self, region: Region, probs: np.ndarray) -> bool:
        """Whether ``region``, with class probabilities ``probs``, is surely the one part it is
        named as (see SPLIT_SURE_PROBABILITY)."""
        k = int(np.argmax(probs))
        diagonal = self.diagonal_m.get(self.class_names[k])
        return (
            diagonal is not None
            and probs[k] >= SPLIT_SURE_PROBABILITY
            and region.extent_m <= diagonal
        )

    def join_fragments(
        self,
        regions: Sequence[Region],
        labels: Sequence[str],
        planes: Sequence[Plane] = (),
        height_m: np.ndarray | None = None,
    ) -> list[list[int]]:
        """Groups of region indices (largest region first in each) that are one part each.

        Groups of one label join when their regions come within ``JOIN_GAP_PX`` and their
        union's 3-D diagonal stays within 1.15x the part's (a part that colour edges or depth
        steps cut into pieces is one detection again; two touching parts of one class stay two),
        or, farther apart, when they rest on one of ``planes``, their points together fit the
        part's footprint (see FAR_JOIN_LENGTH) and nothing higher than them lies between them in
        ``height_m`` (the frame's height above the support; without it no far joins: a part seen
        on both sides of one lying across it would be reported on top of that one). Joining
        repeats until nothing joins, so a small piece between two large ones bridges them."""
        order = sorted(range(len(regions)), key=lambda i: -regions[i].pixels)
        groups: list[list[int]] = [[i] for i in order]
        touching: dict[tuple[int, int], bool] = {}  # each pair's mask test once, not per pass

        def touch(i: int, j: int) -> bool:
            key = (min(i, j), max(i, j))
            if key not in touching:
                touching[key] = regions_touch(regions[key[0]], regions[key[1]], JOIN_GAP_PX)
            return touching[key]

        centres: dict[int, np.ndarray] = {}

        def centre(i: int) -> np.ndarray:
            """(u, v) mean pixel of region i."""
            if i not in centres:
                u0, v0, u1, v1 = regions[i].bbox
                vs, us = np.nonzero(regions[i].mask[v0:v1, u0:u1])
                centres[i] = np.array([us.mean() + u0, vs.mean() + v0])
            return centres[i]

        def one_part(ga: list[int], gb: list[int]) -> bool:
            label, members = labels[ga[0]], [regions[i] for i in ga + gb]
            if any(touch(i, j) for i in ga for j in gb):
                lo, hi = union_bounds(members)
                if np.linalg.norm(hi - lo) <= 1.15 * self.diagonal_m.get(label, 0.0):
                    return True
            plane = members[0].plane
            if label not in self.footprint_m or plane >= len(planes) or height_m is None:
                return False
            if any(r.plane != plane or r.sample is None for r in members):
                return False
            length, width = footprint_extents(
                np.concatenate([r.sample for r in members]), planes[plane].normal
            )
            part_length, part_width = self.footprint_m[label]
            if not (
                length <= FAR_JOIN_LENGTH * part_length
                and width <= FAR_JOIN_WIDTH * part_width + FAR_JOIN_MARGIN_M
            ):
                return False
            # the nearest two pieces' centres: nothing higher than the pieces on the way
            ca, cb = min(
                ((centre(i), centre(j)) for i in ga for j in gb),
                key=lambda c: float(np.hypot(*(c[0] - c[1]))),
            )
            t = np.linspace(0.0, 1.0, 24)[:, None]
            uv = np.rint(ca + t * (cb - ca)).astype(int)
            between = height_m[uv[:, 1], uv[:, 0]]
            top = max(r.height_m for r in members) + FAR_JOIN_OCCLUDER_M
            return not bool(np.any(between[np.isfinite(between)] > top))

        verdicts: dict[tuple[tuple[int, ...], tuple[int, ...]], bool] = {}  # pairs of groups

        def join(ga: list[int], gb: list[int]) -> bool:
            """one_part, asked once per pair of groups (a pass after a join asks again only
            about the group that grew)."""
            key = (tuple(ga), tuple(gb))
            if key not in verdicts:
                verdicts[key] = labels[ga[0]] == labels[gb[0]] and one_part(ga, gb)
            return verdicts[key]

        joined = True
        while joined:
            joined = False
            for a in range(len(groups)):
                for b in range(a + 1, len(groups)):
                    ga, gb = groups[a], groups[b]
                    if not join(ga, gb):
                        continue
                    ga.extend(gb)
                    del groups[b]
                    joined = True
                    break
                if joined:
                    break
        return groups

    def pickup_pixels(
        self,
        rgb: np.ndarray,
        height_m: np.ndarray,
        regions: Sequence[Region],
        labels: Sequence[str],
        camera: CameraIntrinsics,
        cut: dict[int, tuple[Region, np.ndarray]] | None = None,
    ) -> list[tuple[float, float] | None]:
        """The pickup network's centre of gravity (image pixels) of each region, named
        ``labels``, one batch of crops for all, kept on the region (:func:`on_region`); None
        each without the network (the pickup is then the 3-D mean). ``cut``: crops the
        classifier cut from this frame (see :meth:`classify`), reused for the regions it
        holds."""
        if self.pickup is None or not regions:
            return [None] * len(regions)
        cut = {} if cut is None else cut
        crops, prior, windows = [], [], []
        for r in regions:
            if id(r) not in cut:
                cut[id(r)] = (r, region_crop(rgb, height_m, r, camera, self.crop)[0])
            crops.append(cut[id(r)][1])
            windows.append(crop_window(r, camera, self.crop))
            prior.append(to_crop(project(r.centroid, camera), windows[-1]))
        classes = (
            np.array([self.class_names.index(label) for label in labels])
            if self.pickup.by_class
            else None
        )
        t = self.pickup.locate(np.stack(crops), np.stack(prior), classes)
        pixels = [to_image(ti, wi) for ti, wi in zip(t, windows, strict=True)]
        return [on_region(p, r) for p, r in zip(pixels, regions, strict=True)]

    @blas_on_calling_thread
    def detect(
        self,
        rgb: np.ndarray,
        depth: np.ndarray,
        camera: CameraIntrinsics,
        targets: Sequence[str] | None = None,
    ) -> list[Detection]:
        """Parts of the ``targets`` classes (all when None), most probable first.

        ``depth`` in camera.depth_scale units (uint16, 0 = missing); float arrays are accepted with
        NaN/inf treated as missing. Raises ValueError for malformed input or unknown targets.
        """
        t0 = time.perf_counter()
        check_frame(rgb, depth, camera)
        check_targets(targets, self.labels)
        wanted = set(self.labels if targets is None else targets)
        depth_m = depth_in_metres(depth, camera)
        seg = segment_instances(depth_m, camera, self.geometry, rgb)
        t1 = time.perf_counter()
        cut: dict[int, tuple[Region, np.ndarray]] = {}  # this frame's crops, for the pickup
        probs = self.classify(rgb, seg.height_m, seg.regions, camera, cut=cut)
        regions, probs = self.split_touching(rgb, seg, probs, camera, cut)
        t2 = time.perf_counter()
        labels = [self.class_names[int(np.argmax(p))] for p in probs]
        self.last_unknown = labels.count(UNKNOWN)
        found: list[tuple[str, np.ndarray, Region, int]] = []
        for group in self.join_fragments(regions, labels, seg.planes, seg.height_m):
            label = labels[group[0]]
            if label == UNKNOWN or label not in wanted:
                continue
            if all(regions[i].sparse for i in group) and (
                probs[group[0]].max() < SPARSE_MIN_PROBABILITY
            ):
                continue
            region = merge_regions([regions[i] for i in group])
            w = np.array([regions[i].pixels for i in group], float)
            found.append((label, np.average(probs[group], axis=0, weights=w), region, len(group)))
        tp = time.perf_counter()
        pixels = self.pickup_pixels(
            rgb, seg.height_m, [f[2] for f in found], [f[0] for f in found], camera, cut
        )
        tp = time.perf_counter() - tp
        tf = time.perf_counter()
        fits = [
            self.fitter.fit(label, region, seg.planes[region.plane], depth_m, camera)
            if self.fitter is not None and label in self.fitter.catalog.names
            else None
            for label, _, region, _ in found
        ]
        tf = time.perf_counter() - tf
        out: list[Detection] = []
        for (label, p, region, fragments), network_pixel, fit in zip(
            found, pixels, fits, strict=True
        ):
            k = self.class_names.index(label)
            pickup, how = network_pixel, "mean_3d" if network_pixel is None else "network"
            if fit is not None:
                pickup, how = self.fitter.pickup(fit, camera, network_pixel), "shape_fit"
                pickup = on_region(np.asarray(pickup), region)
            pixel, point, R = region_pose(region, camera, pickup)
            runner_up = int(np.argsort(p)[-2])
            out.append(
                planar_grasp_detection(
                    label,
                    p[k],
                    pixel,
                    point,
                    R,
                    {
                        "class_probability": float(p[k]),
                        "runner_up": self.class_names[runner_up],
                        "runner_up_probability": float(p[runner_up]),
                        "pixels": region.pixels,
                        "fragments": fragments,
                        "extent_m": region.extent_m,
                        "height_m": region.height_m,
                        "plane": region.plane,
                        "pickup": how,
                        **({} if fit is None else fit.extras()),
                    },
                )
            )
        out.sort(key=lambda d: -d.score)
        t3 = time.perf_counter()
        self.last_timing_ms = {
            "geometry": 1e3 * (t1 - t0),
            "classifier": 1e3 * (t2 - t1),
            "post": 1e3 * (t3 - t2 - tp - tf),
            "pickup": 1e3 * tp,
            "shape_fit": 1e3 * tf,
        }
        return out
