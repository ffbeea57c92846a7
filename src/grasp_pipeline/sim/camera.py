"""Simulated RealSense camera: RGB, driver-format depth, instance masks and per-object ground truth.

Frames: ``pose_world`` is the camera *optical* frame (x right, y down, z forward) in the world
frame. OpenGL's camera frame (y up, z backward) is the optical frame rotated by 180 deg about x.
Depth is metric z along the optical axis, recovered from the z-buffer as
``z = far near / (far - (far - near) zbuf)``; ``zbuf >= 1`` means nothing was hit.

Pickup-point ground truth: the paper's pickup point is the object's centre of mass projected into
the image. For hollow objects (nuts, bearings, tubes seen along their axis) that pixel shows the
table through the hole, so the annotation uses the projected COM when it lands on the object's own
mask (eroded by one pixel, away from depth edges), otherwise the nearest such mask pixel. The 3D
``pickup_point`` is where the camera ray through that pixel meets the object's surface (PyBullet ray
cast against the same geometry that is rendered); the COM is stored separately as ``com_camera``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from grasp_pipeline.data.format import ObjectAnnotation
from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.sim.depth_noise import DepthNoiseModel, to_driver_units

if TYPE_CHECKING:
    from grasp_pipeline.sim.world import SimWorld

_OPTICAL_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def projection_matrix(cam: CameraIntrinsics, near: float, far: float) -> np.ndarray:
    """OpenGL projection (4x4) reproducing the pinhole ``cam`` in PyBullet's TinyRenderer.

    The principal-point terms use TinyRenderer's pixel-exact offsets (measured: deprojected depth
    then matches ray-cast points to < 0.3 mm).
    """
    W, H = cam.width, cam.height
    return np.array(
        [
            [2 * cam.fx / W, 0.0, 1.0 - 2.0 * cam.cx / W, 0.0],
            [0.0, 2 * cam.fy / H, 2.0 * (cam.cy + 1.0) / H - 1.0, 0.0],
            [0.0, 0.0, -(far + near) / (far - near), -2.0 * far * near / (far - near)],
            [0.0, 0.0, -1.0, 0.0],
        ]
    )


@dataclass
class SimRender:
    """One rendered frame. ``depth`` uint16 driver units (0 = none); ``depth_true_m`` float32 metres
    before noise (NaN = nothing hit); ``instance_mask`` uint16 with ids matching ``objects``;
    ``body_ids`` (H, W) int32 raw PyBullet body per pixel (-1 = none)."""

    rgb: np.ndarray
    depth: np.ndarray
    depth_true_m: np.ndarray
    instance_mask: np.ndarray
    objects: list[ObjectAnnotation]
    camera: CameraIntrinsics
    camera_pose_world: np.ndarray
    body_ids: np.ndarray = field(repr=False)


class SimCamera:
    """A RealSense-like camera at ``pose_world`` (4x4 optical -> world).

    ``noise`` switches the depth noise model (and mild RGB sensor noise) on; randomness comes
    from ``render(rng=...)`` or, if none is given, from the camera's own generator seeded with
    ``seed``.
    """

    def __init__(
        self,
        intrinsics: CameraIntrinsics,
        pose_world: np.ndarray,
        noise: bool = True,
        seed: int = 0,
        near: float = 0.05,
        far: float = 3.0,
        noise_model: DepthNoiseModel | None = None,
        rgb_noise_sigma: float = 2.0,
    ) -> None:
        if not 0 < near < far:
            raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
        self.intrinsics = intrinsics
        self.pose_world = np.asarray(pose_world, dtype=float)
        if self.pose_world.shape != (4, 4):
            raise ValueError(f"camera pose_world must be 4x4, got {self.pose_world.shape}")
        self.noise = noise
        self.near, self.far = near, far
        model = intrinsics.model if intrinsics.model in ("d435", "sr300") else "d435"
        self.noise_model = noise_model or DepthNoiseModel.for_camera(model)
        self.rgb_noise_sigma = rgb_noise_sigma
        self.rng = np.random.default_rng(seed)

    def view_matrix(self) -> np.ndarray:
        """World -> OpenGL camera (4x4)."""
        return np.linalg.inv(self.pose_world @ _OPTICAL_TO_GL)

    def render(self, world: SimWorld, rng: np.random.Generator | None = None) -> SimRender:
        """Render ``world`` with TinyRenderer and build the ground truth of the visible objects."""
        import pybullet as p

        rng = self.rng if rng is None else rng
        cam = self.intrinsics
        W, H = cam.width, cam.height
        _, _, rgba, zbuf, seg = p.getCameraImage(
            W,
            H,
            viewMatrix=self.view_matrix().flatten(order="F").tolist(),
            projectionMatrix=projection_matrix(cam, self.near, self.far)
            .flatten(order="F")
            .tolist(),
            renderer=p.ER_TINY_RENDERER,
            physicsClientId=world.client,
            **world.lighting.render_kwargs(),
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(H, W, 4)[:, :, :3].copy()
        zbuf = np.asarray(zbuf, dtype=np.float64).reshape(H, W)
        body_ids = np.asarray(seg, dtype=np.int32).reshape(H, W)
        f, n = self.far, self.near
        with np.errstate(divide="ignore", invalid="ignore"):
            depth_true = f * n / (f - (f - n) * zbuf)
        depth_true[zbuf >= 1.0] = np.nan
        depth_true = depth_true.astype(np.float32)

        objects, instance_mask = self._ground_truth(world, body_ids)
        if self.noise:
            depth_m = self.noise_model.apply(depth_true, rgb, rng)
            noisy = rgb.astype(np.float64) + rng.standard_normal(rgb.shape) * self.rgb_noise_sigma
            rgb = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
        else:
            depth_m = depth_true
        depth = to_driver_units(depth_m, cam.depth_scale)
        return SimRender(
            rgb, depth, depth_true, instance_mask, objects, cam, self.pose_world.copy(), body_ids
        )

    def _ground_truth(
        self, world: SimWorld, body_ids: np.ndarray
    ) -> tuple[list[ObjectAnnotation], np.ndarray]:
        """Annotations of visible catalog objects (instance ids 1..n in body order) and the mask."""
        import cv2

        T_cam_world = np.linalg.inv(self.pose_world)
        mask = np.zeros(body_ids.shape, dtype=np.uint16)
        objects: list[ObjectAnnotation] = []
        for body, obj in world.objects.items():
            own = body_ids == body
            visible = int(own.sum())
            if visible == 0:
                continue
            T_world_obj = world.object_pose(body)
            T_cam_obj = T_cam_world @ T_world_obj
            com_cam = T_cam_obj[:3, :3] @ obj.com + T_cam_obj[:3, 3]
            eroded = cv2.erode(own.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            candidates = eroded if eroded.any() else own
            found = self._pickup(world, body, com_cam, candidates)
            if found is None:
                continue
            pixel, point = found
            instance_id = len(objects) + 1
            mask[own] = instance_id
            objects.append(
                ObjectAnnotation(
                    instance_id=instance_id,
                    label=obj.spec.name,
                    class_index=obj.spec.class_index,
                    pickup_pixel=pixel,
                    pickup_point=point,
                    pose_camera=T_cam_obj,
                    pose_world=T_world_obj,
                    axis_camera=T_cam_obj[:3, 0].copy(),
                    visible_pixels=visible,
                    com_camera=com_cam,
                )
            )
        return objects, mask

    def _pickup(
        self, world: SimWorld, body: int, com_cam: np.ndarray, candidates: np.ndarray
    ) -> tuple[tuple[float, float], np.ndarray] | None:
        """Pickup pixel (integer u, v) nearest the projected COM whose camera ray hits ``body``."""
        import pybullet as p

        cam = self.intrinsics
        vs, us = np.nonzero(candidates)
        if com_cam[2] > 1e-6:
            u0 = cam.fx * com_cam[0] / com_cam[2] + cam.cx
            v0 = cam.fy * com_cam[1] / com_cam[2] + cam.cy
        else:
            u0, v0 = float(us.mean()), float(vs.mean())
        order = np.argsort((us - u0) ** 2 + (vs - v0) ** 2, kind="stable")[:16]
        us, vs = us[order], vs[order]
        rays_cam = np.stack(
            [(us - cam.cx) / cam.fx, (vs - cam.cy) / cam.fy, np.ones(len(us))], axis=1
        )
        R, t = self.pose_world[:3, :3], self.pose_world[:3, 3]
        starts = np.repeat(t[None], len(us), axis=0)
        ends = t + (rays_cam * self.far) @ R.T
        hits = p.rayTestBatch(starts.tolist(), ends.tolist(), physicsClientId=world.client)
        for u, v, hit in zip(us, vs, hits, strict=True):
            if hit[0] == body:
                point_world = np.asarray(hit[3])
                point_cam = R.T @ (point_world - t)
                return (float(u), float(v)), point_cam
        return None
