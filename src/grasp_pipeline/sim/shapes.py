"""PyBullet geometry of the catalog objects, built from ``ObjectSpec.shape`` + ``dims``.

Every object is a set of primitive parts (boxes and cylinders) in the object frame of the catalog
(origin at the bounding-box centre, x along the dominant axis, z up when resting on a table). The
same parts are used for collision and for rendering, so ray casts against the collision geometry
hit exactly the surfaces the camera sees (the pickup-point ground truth relies on that).

Hollow shapes are unions of boxes around the hole:
- hex nut: one box per flat, spanning the radial band between hole and flat; the union is a
  hexagonal prism with a hexagonal hole of in-radius ``hole_diameter / 2``.
- ring: ``RING_SEGMENTS`` boxes around the axis; outer and inner surfaces are regular polygons
  with in-radii of the outer and inner radius, so a gripper closing across it meets the true
  outer diameter.
- solid hexagon (screw head): three boxes (side x across-flats) rotated by 0/60/120 degrees,
  whose union is exactly the hexagon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RING_SEGMENTS = 12

_SHAPES = ("box", "hex_nut", "ring", "screw", "cylinder")


@dataclass(frozen=True)
class Part:
    """One primitive in the object frame (metres); ``kind`` is ``"box"`` or ``"cylinder"``.

    Boxes use ``half_extents``; cylinders ``radius`` and ``length`` along their local z.
    ``quat`` is the part's orientation (x, y, z, w) in the object frame.
    """

    kind: str
    position: tuple[float, float, float]
    quat: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    half_extents: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radius: float = 0.0
    length: float = 0.0


def _quat_axis_angle(axis: tuple[float, float, float], angle: float) -> tuple[float, ...]:
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    s = math.sin(angle / 2.0)
    return (float(a[0] * s), float(a[1] * s), float(a[2] * s), math.cos(angle / 2.0))


def _quat_mul(q1: tuple[float, ...], q2: tuple[float, ...]) -> tuple[float, ...]:
    x1, y1, z1, w1 = q1
    x2, y2, z2, w2 = q2
    return (
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
    )


def _dim(spec, key: str) -> float:
    try:
        value = float(spec.dims[key])
    except KeyError:
        raise ValueError(f"object {spec.name!r} (shape {spec.shape}) lacks dims.{key}") from None
    if not value > 0:
        raise ValueError(f"object {spec.name!r}: dims.{key} must be positive, got {value}")
    return value


def _axis_is_x(diameter: float, length: float) -> bool:
    """Catalog rule for rings and cylinders: long ones lie on their side (axis x), short ones flat."""
    return length >= diameter


def _annulus(
    n: int, r_in: float, r_out: float, height: float, phase: float, axis_x: bool, offset_x: float
) -> list[Part]:
    """``n`` boxes forming a polygonal annulus around the local z axis (or x when ``axis_x``)."""
    parts = []
    half_tangent = r_out * math.tan(math.pi / n)
    r_mid = 0.5 * (r_in + r_out)
    to_x = _quat_axis_angle((0.0, 1.0, 0.0), math.pi / 2) if axis_x else (0.0, 0.0, 0.0, 1.0)
    for k in range(n):
        theta = phase + 2.0 * math.pi * k / n
        c, s = r_mid * math.cos(theta), r_mid * math.sin(theta)
        # Rotating about +y by 90 deg maps local (x, y, z) -> (z, y, -x).
        pos = (offset_x, s, -c) if axis_x else (c, s, 0.0)
        quat = _quat_mul(to_x, _quat_axis_angle((0.0, 0.0, 1.0), theta))
        he = (0.5 * (r_out - r_in), half_tangent, 0.5 * height)
        parts.append(Part("box", pos, quat, half_extents=he))
    return parts


def object_parts(spec) -> list[Part]:
    """Primitive parts of a catalog object in its object frame (metres).

    Raises ValueError naming the object for an unknown shape or missing/invalid dims.
    """
    shape = spec.shape
    if shape == "box":
        size = (_dim(spec, "length"), _dim(spec, "width"), _dim(spec, "height"))
        return [Part("box", (0.0, 0.0, 0.0), half_extents=tuple(0.5 * s for s in size))]
    if shape == "hex_nut":
        af, h, hole = _dim(spec, "across_flats"), _dim(spec, "height"), _dim(spec, "hole_diameter")
        if hole >= af:
            raise ValueError(f"object {spec.name!r}: hole_diameter must be < across_flats")
        # Flats face +-y, so flat normals point at 30 + 60 k degrees.
        return _annulus(6, hole / 2, af / 2, h, math.pi / 6, False, 0.0)
    if shape == "ring":
        od, idia, length = (
            _dim(spec, "outer_diameter"),
            _dim(spec, "inner_diameter"),
            _dim(spec, "length"),
        )
        if idia >= od:
            raise ValueError(f"object {spec.name!r}: inner_diameter must be < outer_diameter")
        axis_x = _axis_is_x(od, length)
        return _annulus(RING_SEGMENTS, idia / 2, od / 2, length, 0.0, axis_x, 0.0)
    if shape == "cylinder":
        d, length = _dim(spec, "diameter"), _dim(spec, "length")
        quat = (
            _quat_axis_angle((0.0, 1.0, 0.0), math.pi / 2)
            if _axis_is_x(d, length)
            else (0.0, 0.0, 0.0, 1.0)
        )
        return [Part("cylinder", (0.0, 0.0, 0.0), quat, radius=d / 2, length=length)]
    if shape == "screw":
        af, hh = _dim(spec, "head_across_flats"), _dim(spec, "head_height")
        sd, sl = _dim(spec, "shaft_diameter"), _dim(spec, "shaft_length")
        total = hh + sl
        head_x = -total / 2 + hh / 2
        shaft_x = -total / 2 + hh + sl / 2
        to_x = _quat_axis_angle((0.0, 1.0, 0.0), math.pi / 2)
        parts = [Part("cylinder", (shaft_x, 0.0, 0.0), to_x, radius=sd / 2, length=sl)]
        # Head: hexagon in the y-z plane with a flat facing down (-z): rectangles of
        # side x across-flats, long side along z, rotated about x by 0/60/120 degrees.
        side = af / math.sqrt(3.0)
        for k in range(3):
            quat = _quat_axis_angle((1.0, 0.0, 0.0), k * math.pi / 3)
            parts.append(
                Part("box", (head_x, 0.0, 0.0), quat, half_extents=(hh / 2, side / 2, af / 2))
            )
        return parts
    raise ValueError(f"object {spec.name!r}: unknown shape {shape!r}; known: {list(_SHAPES)}")


def center_of_mass(spec) -> np.ndarray:
    """Centre of mass (3,) in the object frame (metres), assuming uniform density.

    Computed from the exact solids (not the overlapping parts): only the screw is off-centre,
    the other shapes are symmetric about the bounding-box centre.
    """
    if spec.shape != "screw":
        object_parts(spec)  # validates dims
        return np.zeros(3)
    af, hh = _dim(spec, "head_across_flats"), _dim(spec, "head_height")
    sd, sl = _dim(spec, "shaft_diameter"), _dim(spec, "shaft_length")
    total = hh + sl
    v_head = (math.sqrt(3.0) / 2.0) * af**2 * hh
    v_shaft = math.pi * (sd / 2) ** 2 * sl
    x = (v_head * (-total / 2 + hh / 2) + v_shaft * (-total / 2 + hh + sl / 2)) / (v_head + v_shaft)
    return np.array([x, 0.0, 0.0])


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
