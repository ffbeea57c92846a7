"""The PyBullet simulator's RealSense as a frame source.

Either wraps a world and camera built by the caller (the composed demo shares one world between
camera and robot, so a pick changes what the camera sees), or builds its own: a work surface
with ``n_objects`` catalog objects and a top-down camera ``camera_height`` metres above them.
Each ``read`` advances the physics by one frame period and renders (TinyRenderer: ~150 ms at
640x480, so a 30 Hz node gets ~6 Hz of new renders); with ``rerender=False`` the first render is
repeated with new stamps (a static scene at any rate, e.g. for latency benchmarks).
Stamps are simulated time in ns. ``extras`` carries the ground truth (``objects``: list of
ObjectAnnotation in the camera frame, ``camera_pose_world``, ``instance_mask``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grasp_pipeline.geometry.camera import preset as camera_preset
from grasp_pipeline.sources.base import CameraSource, FrameSet


class SimSource(CameraSource):
    """Simulated RGB-D frames; see the module docstring. ``world``/``camera``: SimWorld/SimCamera."""

    kind = "sim"

    def __init__(
        self,
        world=None,
        camera=None,
        preset: str = "d435",
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        seed: int = 0,
        n_objects: int = 3,
        objects: Sequence[str] | None = None,
        camera_height: float = 0.5,
        surface_height: float = 0.10,
        noise: bool = True,
        step_physics: bool = True,
        rerender: bool = True,
    ) -> None:
        super().__init__()
        if (world is None) != (camera is None):
            raise ValueError("give both world and camera, or neither (then a scene is built)")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if not 0 <= n_objects <= 13:
            raise ValueError(f"n_objects must be in 0..13, got {n_objects}")
        if not 0.15 <= camera_height <= 2.0:
            raise ValueError(f"camera_height must be in [0.15, 2.0] m, got {camera_height}")
        self._given = (world, camera)
        self.intrinsics = (
            camera_preset(preset, width, height) if camera is None else camera.intrinsics
        )
        self.fps, self.seed, self.n_objects = float(fps), int(seed), int(n_objects)
        self.object_names = list(objects) if objects else None
        self.camera_height, self.surface_height = float(camera_height), float(surface_height)
        self.noise, self.step_physics, self.rerender = noise, step_physics, rerender
        self.world = world
        self.camera = camera
        self._owns_world = False
        self._sim_time_ns = 0
        self._last = None

    def _open(self) -> None:
        if self._given[0] is not None:
            self.world, self.camera = self._given
        else:
            from grasp_pipeline.geometry.extrinsics import look_at
            from grasp_pipeline.sim.camera import SimCamera
            from grasp_pipeline.sim.world import SimWorld

            rng = np.random.default_rng(self.seed)
            self.world = SimWorld(surface_height=self.surface_height)
            self._owns_world = True
            if self.n_objects:
                self.world.random_scene(rng, self.n_objects, names=self.object_names)
                self.world.settle(max_seconds=1.0)
            z = self.world.surface_z
            # top-down, image "up" towards world +x (a wrist camera looking straight down)
            pose = look_at(
                np.array([0.0, 0.0, z + self.camera_height]),
                np.array([0.0, 0.0, z]),
                np.array([1.0, 0.0, 0.0]),
            )
            self.camera = SimCamera(self.intrinsics, pose, noise=self.noise, seed=self.seed)
        self._sim_time_ns = 0
        self._last = None

    def _read(self) -> FrameSet | None:
        period_ns = round(1e9 / self.fps)
        if self._last is None or self.rerender:
            if self.step_physics and self._last is not None:
                self.world.step(period_ns * 1e-9)
            self._last = self.world.render(self.camera)
        r = self._last
        stamp = self._sim_time_ns
        self._sim_time_ns += period_ns
        extras = {
            "objects": r.objects,
            "camera_pose_world": r.camera_pose_world,
            "instance_mask": r.instance_mask,
        }
        return FrameSet(r.rgb, r.depth, r.camera, stamp, 0, extras)

    def _close(self) -> None:
        if self._owns_world and self.world is not None:
            self.world.close()
        if self._owns_world:
            self.world, self.camera = None, None
        self._owns_world = False
        self._last = None
