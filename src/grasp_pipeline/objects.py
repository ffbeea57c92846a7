"""The RoboCup@Work object catalog: typed, validated view of ``config/objects.yaml``.

Every length is in metres, every mass in kilograms. Poses of an object refer to its *object
frame*: origin at the bounding-box centre, x along the dominant (longest) axis, z up in the
object's resting pose on a table (the YAML header explains where each shape sits in it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# Required dims per shape; the order is the one documented in config/objects.yaml.
SHAPE_DIMS: dict[str, tuple[str, ...]] = {
    "box": ("length", "width", "height"),
    "hex_nut": ("across_flats", "height", "hole_diameter"),
    "ring": ("outer_diameter", "inner_diameter", "length"),
    "screw": ("head_across_flats", "head_height", "shaft_diameter", "shaft_length"),
    "cylinder": ("diameter", "length"),
}
_REQUIRED = ("name", "class_index", "shape", "dims", "mass", "color", "friction", "graspable_width")
_OPTIONAL = ("material",)


class UnknownObjectError(KeyError, ValueError):
    """An object name that is not in the catalog (a KeyError for mappings, a ValueError for input
    validation: callers may catch either)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def _across_corners(across_flats: float) -> float:
    """Corner-to-corner width of a regular hexagon from its width across flats."""
    return 2.0 * across_flats / math.sqrt(3.0)


def _axial_symmetry_axis(shape: str, dims: Mapping[str, float]) -> str | None:
    """'x' or 'z' (object-frame axis of rotational symmetry) for rings/cylinders, else None."""
    if shape == "ring":
        return "x" if dims["length"] >= dims["outer_diameter"] else "z"
    if shape == "cylinder":
        return "x" if dims["length"] >= dims["diameter"] else "z"
    return None


def shape_size(shape: str, dims: Mapping[str, float]) -> tuple[float, float, float]:
    """Bounding-box extents (x, y, z) in metres of a shape in its object frame."""
    if shape == "box":
        return (dims["length"], dims["width"], dims["height"])
    if shape == "hex_nut":
        return (_across_corners(dims["across_flats"]), dims["across_flats"], dims["height"])
    if shape == "screw":
        head_af = dims["head_across_flats"]
        # The head is wider than the shaft for any real screw; max() keeps odd specs consistent.
        return (
            dims["head_height"] + dims["shaft_length"],
            max(_across_corners(head_af), dims["shaft_diameter"]),
            max(head_af, dims["shaft_diameter"]),
        )
    if shape in ("ring", "cylinder"):
        d = dims["outer_diameter"] if shape == "ring" else dims["diameter"]
        length = dims["length"]
        return (length, d, d) if _axial_symmetry_axis(shape, dims) == "x" else (d, d, length)
    raise ValueError(f"unknown shape {shape!r}; known: {sorted(SHAPE_DIMS)}")


@dataclass(frozen=True)
class ObjectSpec:
    """One catalog object.

    ``dims`` are the shape-specific dimensions (metres, see SHAPE_DIMS); ``size`` the (x, y, z)
    bounding-box extents in the object frame (metres, x = dominant axis); ``mass`` kg;
    ``color`` RGB in 0..1; ``friction`` the Coulomb coefficient against the table;
    ``graspable_width`` the opening (metres) a parallel gripper needs for the preferred
    top-down pinch across the narrow side.
    """

    name: str
    class_index: int
    shape: str
    dims: dict[str, float]
    size: tuple[float, float, float]
    mass: float
    color: tuple[float, float, float]
    friction: float
    graspable_width: float
    material: str = field(default="")

    @property
    def symmetry_axis(self) -> str | None:
        """Object-frame axis ('x' or 'z') of rotational symmetry of rings/cylinders, else None."""
        return _axial_symmetry_axis(self.shape, self.dims)

    @property
    def half_height(self) -> float:
        """Height (metres) of the object-frame origin above the table in the resting pose."""
        return 0.5 * self.size[2]


def _prism_k(shape: str, dims: Mapping[str, float]) -> tuple[float, float, float]:
    """(area, k, length) of a prismatic shape: k = int v^2 dA / A for any in-plane axis through
    the centre (the cross-sections used here are isotropic: circles, annuli, regular hexagons)."""
    if shape == "cylinder":
        r = dims["diameter"] / 2
        return math.pi * r * r, r * r / 4, dims["length"]
    if shape == "ring":
        ro, ri = dims["outer_diameter"] / 2, dims["inner_diameter"] / 2
        return math.pi * (ro * ro - ri * ri), (ro * ro + ri * ri) / 4, dims["length"]
    # hex_nut: regular hexagon (A = sqrt3/2 f^2, k = 5/72 f^2) minus the round hole
    f, rh = dims["across_flats"], dims["hole_diameter"] / 2
    a_hex, a_hole = math.sqrt(3) / 2 * f * f, math.pi * rh * rh
    k = (a_hex * 5 / 72 * f * f - a_hole * rh * rh / 4) / (a_hex - a_hole)
    return a_hex - a_hole, k, dims["height"]


def mass_properties(spec: ObjectSpec) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass (3,) in the object frame (metres) and the 3x3 inertia tensor about it
    (kg m^2, axes parallel to the object frame), for ``spec.mass`` spread uniformly over the
    solid. For simulators and Gazebo models; only the screw's COM is off the origin (toward
    the head, at -x).
    """
    m, d = spec.mass, spec.dims
    if spec.shape == "box":
        x, y, z = spec.size
        return np.zeros(3), np.diag([y * y + z * z, x * x + z * z, x * x + y * y]) * m / 12
    if spec.shape in ("cylinder", "ring", "hex_nut"):
        _, k, length = _prism_k(spec.shape, d)
        i_axis, i_perp = 2 * m * k, m * k + m * length * length / 12
        axis = 2 if spec.shape == "hex_nut" or spec.symmetry_axis == "z" else 0
        diag = [i_perp, i_perp, i_perp]
        diag[axis] = i_axis
        return np.zeros(3), np.diag(diag)
    if spec.shape == "screw":
        hh, sl = d["head_height"], d["shaft_length"]
        head = {"across_flats": d["head_across_flats"], "height": hh, "hole_diameter": 0.0}
        shaft = {"diameter": d["shaft_diameter"], "length": sl}
        parts = []  # (volume, k, length, x of the part's centre)
        for shape, dims, x_c in (
            ("hex_nut", head, -(hh + sl) / 2 + hh / 2),
            ("cylinder", shaft, -(hh + sl) / 2 + hh + sl / 2),
        ):
            area, k, length = _prism_k(shape, dims)
            parts.append((area * length, k, length, x_c))
        vol = sum(p[0] for p in parts)
        com_x = sum(p[0] * p[3] for p in parts) / vol
        i_xx = i_perp = 0.0
        for v, k, length, x_c in parts:
            mp = m * v / vol
            i_xx += 2 * mp * k
            i_perp += mp * k + mp * length * length / 12 + mp * (x_c - com_x) ** 2
        return np.array([com_x, 0.0, 0.0]), np.diag([i_xx, i_perp, i_perp])
    raise ValueError(f"object {spec.name!r}: unknown shape {spec.shape!r}")


class Catalog:
    """The ordered set of objects; class indices run 1..N (0 is background)."""

    def __init__(self, specs: list[ObjectSpec], source: str = "<memory>") -> None:
        self._specs = sorted(specs, key=lambda s: s.class_index)
        self._by_name = {s.name: s for s in self._specs}
        self.source = source

    @property
    def names(self) -> list[str]:
        """Object names in class order (names[i] has class_index i + 1)."""
        return [s.name for s in self._specs]

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[ObjectSpec]:
        return iter(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> ObjectSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownObjectError(
                f"unknown object {name!r}; the catalog ({self.source}) has {self.names}"
            ) from None

    def by_index(self, class_index: int) -> ObjectSpec:
        """The object with ``class_index`` (1..N); 0 (background) and others raise ValueError."""
        i = int(class_index)
        if not 1 <= i <= len(self._specs):
            raise ValueError(
                f"class_index {class_index} is not an object (valid 1..{len(self._specs)}, "
                "0 = background)"
            )
        return self._specs[i - 1]

    def __repr__(self) -> str:
        return f"Catalog({len(self)} objects from {self.source})"


def _number(entry: str, key: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{entry}: field {key!r} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (v <= 0 if positive else v < 0):
        need = "positive" if positive else "non-negative"
        raise ValueError(f"{entry}: field {key!r} must be a finite {need} number, got {value!r}")
    return v


def _parse_entry(raw: Any, position: int, source: str) -> ObjectSpec:
    if not isinstance(raw, dict):
        raise ValueError(
            f"{source}: objects[{position}] must be a mapping, got {type(raw).__name__}"
        )
    name = raw.get("name")
    entry = f"{source}: object {name!r} (objects[{position}])"
    if not isinstance(name, str) or not name:
        raise ValueError(f"{entry}: field 'name' must be a non-empty string")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ValueError(f"{entry}: missing field(s) {missing}")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ValueError(f"{entry}: unknown field(s) {unknown}")

    ci = raw["class_index"]
    if isinstance(ci, bool) or not isinstance(ci, int) or ci < 1:
        raise ValueError(f"{entry}: field 'class_index' must be an integer >= 1, got {ci!r}")

    shape = raw["shape"]
    if shape not in SHAPE_DIMS:
        raise ValueError(f"{entry}: field 'shape' is {shape!r}; known shapes: {sorted(SHAPE_DIMS)}")

    raw_dims = raw["dims"]
    if not isinstance(raw_dims, dict):
        raise ValueError(f"{entry}: field 'dims' must be a mapping")
    need = SHAPE_DIMS[shape]
    missing_dims = [k for k in need if k not in raw_dims]
    if missing_dims:
        raise ValueError(f"{entry}: shape {shape!r} needs dims {missing_dims} (field 'dims')")
    extra_dims = sorted(set(raw_dims) - set(need))
    if extra_dims:
        raise ValueError(f"{entry}: dims {extra_dims} do not belong to shape {shape!r}")
    dims = {k: _number(entry, f"dims.{k}", raw_dims[k]) for k in need}
    for hole, outer in (
        ("inner_diameter", "outer_diameter"),
        ("hole_diameter", "across_flats"),
    ):
        if hole in dims and dims[hole] >= dims[outer]:
            raise ValueError(f"{entry}: field 'dims.{hole}' must be smaller than 'dims.{outer}'")

    color = raw["color"]
    if not (isinstance(color, list) and len(color) == 3):
        raise ValueError(f"{entry}: field 'color' must be a list [r, g, b], got {color!r}")
    rgb = tuple(_number(entry, "color", c, positive=False) for c in color)
    if any(c > 1.0 for c in rgb):
        raise ValueError(f"{entry}: field 'color' components must lie in 0..1, got {color!r}")

    size = shape_size(shape, dims)
    width = _number(entry, "graspable_width", raw["graspable_width"])
    if width > max(size[0], size[1]) + 1e-9:
        raise ValueError(
            f"{entry}: field 'graspable_width' {width} m exceeds the object's horizontal extent "
            f"{max(size[0], size[1]):.4f} m"
        )
    material = raw.get("material", "")
    if not isinstance(material, str):
        raise ValueError(f"{entry}: field 'material' must be a string")
    return ObjectSpec(
        name=name,
        class_index=ci,
        shape=shape,
        dims=dims,
        size=size,
        mass=_number(entry, "mass", raw["mass"]),
        color=(rgb[0], rgb[1], rgb[2]),
        friction=_number(entry, "friction", raw["friction"], positive=False),
        graspable_width=width,
        material=material,
    )


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate the catalog (default: the package's ``config/objects.yaml``).

    Raises FileNotFoundError if the file is missing and ValueError naming the entry and field
    for any bad entry (unknown shape, missing or non-positive dims, duplicate name or
    class_index, class indices that are not exactly 1..N).
    """
    if path is None:
        from grasp_pipeline.paths import config_path

        path = config_path("objects.yaml")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"object catalog not found: {path}")
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise ValueError(f"{source}: expected a mapping with a list under 'objects'")
    if not data["objects"]:
        raise ValueError(f"{source}: 'objects' is empty")

    specs: list[ObjectSpec] = []
    seen_names: dict[str, int] = {}
    seen_index: dict[int, str] = {}
    for pos, raw in enumerate(data["objects"]):
        spec = _parse_entry(raw, pos, source)
        if spec.name in seen_names:
            raise ValueError(
                f"{source}: object {spec.name!r} (objects[{pos}]): duplicate name "
                f"(also objects[{seen_names[spec.name]}])"
            )
        if spec.class_index in seen_index:
            raise ValueError(
                f"{source}: object {spec.name!r} (objects[{pos}]): duplicate class_index "
                f"{spec.class_index} (also used by {seen_index[spec.class_index]!r})"
            )
        seen_names[spec.name] = pos
        seen_index[spec.class_index] = spec.name
        specs.append(spec)
    expected = set(range(1, len(specs) + 1))
    if set(seen_index) != expected:
        raise ValueError(
            f"{source}: field 'class_index' must run 1..{len(specs)} without gaps; "
            f"missing {sorted(expected - set(seen_index))}, "
            f"out of range {sorted(set(seen_index) - expected)}"
        )
    return Catalog(specs, source=source)
