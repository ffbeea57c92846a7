"""PyBullet bodies of the catalog objects, made of their solids (``grasp_pipeline.part_solids``:
boxes and cylinders in the object frame, used alike for collision and for rendering)."""

from __future__ import annotations

import numpy as np

from grasp_pipeline.objects import mass_properties
from grasp_pipeline.part_solids import object_parts


def center_of_mass(spec) -> np.ndarray:
    """Centre of mass (3,) in the object frame (metres), assuming uniform density: the catalog's
    (:func:`grasp_pipeline.objects.mass_properties`: exact for the classic shapes, sampled from
    the union of the parts for the composite ones). Raises ValueError naming the object for bad
    dims."""
    object_parts(spec)  # validates dims
    return mass_properties(spec)[0]


def create_object_body(client: int, spec, color: tuple[float, float, float] | None = None) -> int:
    """Create a dynamic PyBullet body for ``spec`` at the origin; returns the body id.

    Mass and lateral friction come from the spec; the inertial frame sits at the centre of mass,
    so PyBullet's base pose is the COM pose (see SimWorld for the conversion to the object frame).
    """
    import pybullet as p

    parts = object_parts(spec)
    types = [p.GEOM_BOX if q.kind == "box" else p.GEOM_CYLINDER for q in parts]
    kwargs = {
        "shapeTypes": types,
        "halfExtents": [list(q.half_extents) for q in parts],
        "radii": [q.radius for q in parts],
        "lengths": [q.length for q in parts],
    }
    positions = [list(q.position) for q in parts]
    quats = [list(q.quat) for q in parts]
    col = p.createCollisionShapeArray(
        **kwargs,
        collisionFramePositions=positions,
        collisionFrameOrientations=quats,
        physicsClientId=client,
    )
    vis = p.createVisualShapeArray(
        **kwargs,
        visualFramePositions=positions,
        visualFrameOrientations=quats,
        physicsClientId=client,
    )
    if col < 0 or vis < 0:
        raise RuntimeError(f"PyBullet could not create the shapes of {spec.name!r}")
    body = p.createMultiBody(
        baseMass=float(spec.mass),
        baseCollisionShapeIndex=col,
        baseVisualShapeIndex=vis,
        baseInertialFramePosition=center_of_mass(spec).tolist(),
        physicsClientId=client,
    )
    rgb = tuple(spec.color) if color is None else tuple(color)
    p.changeVisualShape(body, -1, rgbaColor=[*rgb, 1.0], physicsClientId=client)
    p.changeDynamics(
        body,
        -1,
        lateralFriction=float(spec.friction),
        spinningFriction=0.001,
        rollingFriction=0.002,
        physicsClientId=client,
    )
    return body
