"""The catalog objects' solids, built from ``ObjectSpec.shape`` + ``dims`` (no simulator here).

Every object is a set of primitive parts (boxes and cylinders) in the object frame of the catalog
(origin at the bounding-box centre, x along the dominant axis, z up when resting on a table). The
simulator (``sim.shapes``) uses the same parts for collision and for rendering, so ray casts
against the collision geometry hit exactly the surfaces the camera sees (the pickup-point ground
truth relies on that); the catalog's mass properties, its top views (``objects.top_view``, which
the detector's shape fit lays over the depth) and the Gazebo models are made of them too.

Hollow shapes are unions of boxes around the hole:
- hex nut: one box per flat, spanning the radial band between hole and flat; the union is a
  hexagonal prism with a hexagonal hole of in-radius ``hole_diameter / 2``.
- ring: ``RING_SEGMENTS`` boxes around the axis; outer and inner surfaces are regular polygons
  with in-radii of the outer and inner radius, so a gripper closing across it meets the true
  outer diameter.
- solid hexagon (screw head, screwdriver handle): three boxes (side x across-flats) rotated by
  0/60/120 degrees, whose union is exactly the hexagon.
- aluminium profile: a core, four corner blocks and eight lips, leaving one open slot in the
  middle of each face.
- block with a hole (bearing housing): a square frame around a square opening, filled by a
  12-segment ring whose inner polygon is the round hole.
- wrench: a flat ring end, a handle and an open jaw; drill: motor body, chuck, grip and battery;
  Allen key: two square bars forming an L.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RING_SEGMENTS = 12

# shapes whose mass properties have a closed form (objects.mass_properties) ...
CLOSED_FORM_SHAPES = ("box", "hex_nut", "ring", "screw", "cylinder")
# ... and the composite ones, whose mass properties are sampled from their parts
COMPOSITE_SHAPES = (
    "profile",
    "stepped_cylinder",
    "screwdriver",
    "block_with_hole",
    "wrench",
    "drill",
    "allen_key",
)
_SHAPES = CLOSED_FORM_SHAPES + COMPOSITE_SHAPES


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


def _box(x: float, y: float, z: float, sx: float, sy: float, sz: float, quat=None) -> Part:
    """A box with centre (x, y, z) and full extents (sx, sy, sz)."""
    q = (0.0, 0.0, 0.0, 1.0) if quat is None else tuple(quat)
    return Part("box", (x, y, z), q, half_extents=(0.5 * sx, 0.5 * sy, 0.5 * sz))


def _x_cylinder(x: float, radius: float, length: float, y: float = 0.0, z: float = 0.0) -> Part:
    """A cylinder along the object's x axis centred at (x, y, z)."""
    to_x = _quat_axis_angle((0.0, 1.0, 0.0), math.pi / 2)
    return Part("cylinder", (x, y, z), to_x, radius=radius, length=length)


def _x_hexagon(x: float, across_flats: float, length: float) -> list[Part]:
    """A hexagonal prism along x (flat facing down) as three rotated boxes."""
    side = across_flats / math.sqrt(3.0)
    return [
        Part(
            "box",
            (x, 0.0, 0.0),
            _quat_axis_angle((1.0, 0.0, 0.0), k * math.pi / 3),
            half_extents=(length / 2, side / 2, across_flats / 2),
        )
        for k in range(3)
    ]


def _profile(spec) -> list[Part]:
    length, w = _dim(spec, "length"), _dim(spec, "width")
    s, d = _dim(spec, "slot_width"), _dim(spec, "slot_depth")
    if s + 2 * d >= w:
        raise ValueError(f"object {spec.name!r}: slot_width + 2 slot_depth must be < width")
    core = w - 2 * d
    corner = w / 2 - d / 2
    parts = [_box(0.0, 0.0, 0.0, length, core, core)]
    parts += [_box(0.0, sy * corner, sz * corner, length, d, d) for sy in (-1, 1) for sz in (-1, 1)]
    lip = w / 2 - d - s / 2  # each face: two lips between the corner blocks and the slot
    c = s / 2 + lip / 2
    for side in (-1, 1):
        for sign in (-1, 1):
            parts.append(_box(0.0, sign * c, side * corner, length, lip, d))  # top / bottom face
            parts.append(_box(0.0, side * corner, sign * c, length, d, lip))  # side faces
    return parts


def _stepped(spec, body: str, hexagonal: bool) -> list[Part]:
    bd, bl = (
        _dim(spec, f"{body}_diameter" if not hexagonal else f"{body}_across_flats"),
        _dim(spec, f"{body}_length"),
    )
    sd, sl = _dim(spec, "shaft_diameter"), _dim(spec, "shaft_length")
    total = bl + sl
    body_x, shaft_x = -total / 2 + bl / 2, -total / 2 + bl + sl / 2
    parts = [_x_cylinder(shaft_x, sd / 2, sl)]
    parts += _x_hexagon(body_x, bd, bl) if hexagonal else [_x_cylinder(body_x, bd / 2, bl)]
    return parts


def _block_with_hole(spec) -> list[Part]:
    lx, ly, h = _dim(spec, "length"), _dim(spec, "width"), _dim(spec, "height")
    r = _dim(spec, "hole_diameter") / 2
    # Frame opening: a square of half-side r; the ring fills it from radius r out to r sqrt 2.
    if r * math.sqrt(2.0) / math.cos(math.pi / RING_SEGMENTS) > min(lx, ly) / 2 + 1e-12:
        raise ValueError(f"object {spec.name!r}: hole_diameter too large for the block")
    parts = [
        _box(sx * (r + lx / 2) / 2, 0.0, 0.0, lx / 2 - r, ly, h) for sx in (-1, 1)
    ]  # the two bars at +-x, full width
    parts += [_box(0.0, sy * (r + ly / 2) / 2, 0.0, 2 * r, ly / 2 - r, h) for sy in (-1, 1)]
    parts += _annulus(RING_SEGMENTS, r, r * math.sqrt(2.0), h, 0.0, False, 0.0)
    return parts


def _wrench(spec) -> list[Part]:
    length, t = _dim(spec, "length"), _dim(spec, "thickness")
    hw, dw, a = _dim(spec, "handle_width"), _dim(spec, "head_width"), _dim(spec, "jaw_opening")
    if not (a < dw and hw <= dw and length > 2 * dw):
        raise ValueError(
            f"object {spec.name!r}: wrench needs jaw_opening < head_width, "
            "handle_width <= head_width and length > 2 head_width"
        )
    ring_x, jaw_x = -length / 2 + dw / 2, length / 2 - dw / 2
    ring = _annulus(RING_SEGMENTS, a / 2, dw / 2, t, 0.0, False, 0.0)
    ring = [
        Part(q.kind, (q.position[0] + ring_x, *q.position[1:]), q.quat, q.half_extents)
        for q in ring
    ]
    back = 0.4 * dw  # solid part of the open end behind the jaw
    x0, x1 = jaw_x - dw / 2, jaw_x - dw / 2 + back
    prong = (dw - a) / 2
    parts = [*ring, _box((x0 + x1) / 2, 0.0, 0.0, back, dw, t)]
    parts += [
        _box((x1 + length / 2) / 2, sy * (a / 2 + prong / 2), 0.0, length / 2 - x1, prong, t)
        for sy in (-1, 1)
    ]
    h0 = ring_x + (a / 2 + dw / 2) / 2  # from the middle of the ring's wall
    parts.append(_box((h0 + x0) / 2 + 0.0005, 0.0, 0.0, x0 - h0 + 0.001, hw, t))
    return parts


def _drill(spec) -> list[Part]:
    d, length = _dim(spec, "body_diameter"), _dim(spec, "body_length")
    grip, gw = _dim(spec, "grip_length"), _dim(spec, "grip_width")
    if grip <= d / 2 or 2 * gw > length:
        raise ValueError(f"object {spec.name!r}: drill needs grip_length > body_diameter / 2")
    y_axis = (d / 2 + grip) / 2 - d / 2  # body axis sits this far +y of the box centre
    chuck = 0.22 * length
    body = length - chuck
    parts = [
        _x_cylinder(-length / 2 + body / 2, d / 2, body, y=y_axis),
        _x_cylinder(length / 2 - chuck / 2, 0.28 * d, chuck, y=y_axis),
    ]
    grip_x = -length / 2 + 0.3 * length
    battery = min(1.2 * gw, grip - d / 2)
    y_end = y_axis - grip  # the battery's outer face
    parts.append(_box(grip_x, (y_axis + y_end + battery) / 2, 0.0, gw, grip - battery, 0.75 * d))
    bx = max(-length / 2 + gw, min(grip_x, length / 2 - gw))
    parts.append(_box(bx, y_end + battery / 2, 0.0, 2 * gw, battery, d))
    return parts


def _allen_key(spec) -> list[Part]:
    la, sa, f = _dim(spec, "long_arm"), _dim(spec, "short_arm"), _dim(spec, "across_flats")
    if not f < sa <= la:
        raise ValueError(
            f"object {spec.name!r}: allen key needs across_flats < short_arm <= long_arm"
        )
    return [
        _box(0.0, -sa / 2 + f / 2, 0.0, la, f, f),
        _box(la / 2 - f / 2, f / 2, 0.0, f, sa - f, f),
    ]


def inside_parts(parts: list[Part], points: np.ndarray) -> np.ndarray:
    """(N,) bool: which of the (N, 3) object-frame points lie inside any of ``parts``."""
    from scipy.spatial.transform import Rotation

    pts = np.asarray(points, dtype=float)
    inside = np.zeros(len(pts), dtype=bool)
    for q in parts:
        R = Rotation.from_quat(q.quat).as_matrix()
        local = (pts - np.asarray(q.position)) @ R  # into the part's frame
        if q.kind == "box":
            inside |= np.all(np.abs(local) <= np.asarray(q.half_extents) + 1e-12, axis=1)
        else:
            radial = local[:, 0] ** 2 + local[:, 1] ** 2 <= q.radius**2
            inside |= radial & (np.abs(local[:, 2]) <= q.length / 2)
    return inside


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
    if shape == "profile":
        return _profile(spec)
    if shape == "stepped_cylinder":
        return _stepped(spec, "body", hexagonal=False)
    if shape == "screwdriver":
        return _stepped(spec, "handle", hexagonal=True)
    if shape == "block_with_hole":
        return _block_with_hole(spec)
    if shape == "wrench":
        return _wrench(spec)
    if shape == "drill":
        return _drill(spec)
    if shape == "allen_key":
        return _allen_key(spec)
    raise ValueError(f"object {spec.name!r}: unknown shape {shape!r}; known: {list(_SHAPES)}")
