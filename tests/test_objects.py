"""The object catalog: the shipped YAML loads with the rulebook numbers; broken files are refused."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from grasp_pipeline.objects import (
    SHAPE_DIMS,
    Catalog,
    UnknownObjectError,
    load_catalog,
    mass_properties,
    shape_size,
)

NAMES = [
    "F20_20_B",
    "F20_20_G",
    "S40_40_B",
    "S40_40_G",
    "M20_100",
    "M20",
    "M30",
    "R20",
    "Bearing_Box",
    "Bearing",
    "Axis",
    "Distance_Tube",
    "Motor",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_all_thirteen_in_class_order(catalog: Catalog) -> None:
    assert len(catalog) == 13
    assert catalog.names == NAMES
    for i, name in enumerate(NAMES, start=1):
        assert catalog.by_index(i).name == name
        assert catalog[name].class_index == i
        assert name in catalog


@pytest.mark.parametrize(
    ("name", "shape", "size_mm", "mass_kg", "grasp_mm"),
    [
        ("F20_20_B", "box", (100, 20, 20), 0.049, 20),
        ("S40_40_G", "box", (100, 40, 40), 0.186, 40),
        ("Bearing_Box", "box", (50, 45, 25), 0.102, 45),
        # Nut lying flat: x = across corners = 2 * 30 / sqrt(3) = 34.641 mm.
        ("M20", "hex_nut", (34.641, 30, 16), 0.056, 30),
        ("M30", "hex_nut", (53.116, 46, 24), 0.217, 46),
        # Screw: 12.5 mm head + 100 mm shaft; head 34.641 across corners, 30 across flats.
        ("M20_100", "screw", (112.5, 34.641, 30), 0.296, 20),
        # Long tube lies on its side (axis x), flat rings lie flat (axis z).
        ("R20", "ring", (45, 30, 30), 0.020, 30),
        ("Bearing", "ring", (32, 32, 13), 0.042, 32),
        ("Distance_Tube", "ring", (32, 32, 10), 0.0148, 32),
        ("Axis", "cylinder", (96, 27, 27), 0.431, 27),
        ("Motor", "cylinder", (87, 42, 42), 0.422, 42),
    ],
)
def test_hand_checked_numbers(catalog, name, shape, size_mm, mass_kg, grasp_mm) -> None:
    spec = catalog[name]
    assert spec.shape == shape
    assert spec.size == pytest.approx(tuple(s / 1000 for s in size_mm), abs=1e-6)
    assert spec.mass == pytest.approx(mass_kg)
    assert spec.graspable_width == pytest.approx(grasp_mm / 1000)
    # x is the dominant axis of every object.
    assert spec.size[0] >= max(spec.size[1], spec.size[2]) - 1e-12
    assert spec.half_height == pytest.approx(spec.size[2] / 2)


def test_derived_masses_match_density(catalog: Catalog) -> None:
    axis = catalog["Axis"].dims
    steel = 7850.0 * math.pi / 4 * axis["diameter"] ** 2 * axis["length"]
    assert catalog["Axis"].mass == pytest.approx(steel, rel=0.01)
    tube = catalog["Distance_Tube"].dims
    vol = math.pi / 4 * (tube["outer_diameter"] ** 2 - tube["inner_diameter"] ** 2) * tube["length"]
    assert catalog["Distance_Tube"].mass == pytest.approx(7850.0 * vol, rel=0.01)


def test_fields_are_sane(catalog: Catalog) -> None:
    for spec in catalog:
        assert set(spec.dims) == set(SHAPE_DIMS[spec.shape])
        assert all(0.0 <= c <= 1.0 for c in spec.color)
        assert 0.0 < spec.friction < 2.0
        # The Panda hand opens 80 mm: every preferred pinch must fit.
        assert 0.0 < spec.graspable_width <= 0.08
    assert catalog["F20_20_B"].color != catalog["F20_20_G"].color
    assert catalog["R20"].symmetry_axis == "x"
    assert catalog["Bearing"].symmetry_axis == "z"
    assert catalog["Bearing_Box"].symmetry_axis is None


def test_lookup_errors(catalog: Catalog) -> None:
    with pytest.raises(UnknownObjectError, match="'Banana'"):
        catalog["Banana"]
    with pytest.raises(KeyError):
        catalog["Banana"]
    with pytest.raises(ValueError, match="background"):
        catalog.by_index(0)
    with pytest.raises(ValueError, match="class_index 14"):
        catalog.by_index(14)


def test_unknown_shape_in_size() -> None:
    with pytest.raises(ValueError, match="unknown shape 'sphere'"):
        shape_size("sphere", {"diameter": 0.01})


def _in_hexagon(u: np.ndarray, v: np.ndarray, across_flats: float) -> np.ndarray:
    """Regular hexagon centred at 0, flats facing +-v, corners along +-u."""
    inside = np.abs(v) <= across_flats / 2
    for ang in (np.pi / 6, 5 * np.pi / 6):
        inside &= np.abs(u * np.cos(ang) + v * np.sin(ang)) <= across_flats / 2
    return inside


def _inside(spec, p: np.ndarray) -> np.ndarray:
    """Independent point-membership test of each catalog solid (object frame, metres)."""
    x, y, z = p.T
    d = spec.dims
    if spec.shape == "box":
        return np.ones(len(p), bool)  # the sampling box is the solid
    if spec.shape == "hex_nut":
        return _in_hexagon(x, y, d["across_flats"]) & (
            x * x + y * y >= (d["hole_diameter"] / 2) ** 2
        )
    if spec.shape in ("ring", "cylinder"):
        r2 = y * y + z * z if spec.symmetry_axis == "x" else x * x + y * y
        ro = (d["outer_diameter"] if spec.shape == "ring" else d["diameter"]) / 2
        ri = d["inner_diameter"] / 2 if spec.shape == "ring" else 0.0
        return (r2 <= ro * ro) & (r2 >= ri * ri)
    # screw: head over x < x0 + head_height, shaft beyond
    x0 = -spec.size[0] / 2
    head = (x < x0 + d["head_height"]) & _in_hexagon(y, z, d["head_across_flats"])
    shaft = (x >= x0 + d["head_height"]) & (y * y + z * z <= (d["shaft_diameter"] / 2) ** 2)
    return head | shaft


@pytest.mark.parametrize(
    "name", ["Bearing_Box", "M20_100", "M30", "R20", "Bearing", "Axis", "Motor"]
)
def test_mass_properties_against_monte_carlo(catalog: Catalog, name: str) -> None:
    spec = catalog[name]
    rng = np.random.default_rng(0)
    p = (rng.random((400_000, 3)) - 0.5) * np.array(spec.size)
    p = p[_inside(spec, p)]
    com_ref = p.mean(axis=0)
    c = np.cov((p - com_ref).T, bias=True)
    inertia_ref = spec.mass * (np.trace(c) * np.eye(3) - c)
    com, inertia = mass_properties(spec)
    np.testing.assert_allclose(com, com_ref, atol=3e-4)
    np.testing.assert_allclose(np.diag(inertia), np.diag(inertia_ref), rtol=0.02)


def test_mass_properties_hand_cases(catalog: Catalog) -> None:
    # Box: m/12 (y^2 + z^2) etc. for the 100 x 20 x 20 mm, 49 g profile.
    _, inertia = mass_properties(catalog["F20_20_B"])
    m = 0.049
    np.testing.assert_allclose(
        np.diag(inertia), [m / 12 * 0.0008, m / 12 * 0.0104, m / 12 * 0.0104], rtol=1e-12
    )
    # Solid cylinder about its axis (x for the Axis): m r^2 / 2.
    com, inertia = mass_properties(catalog["Axis"])
    assert inertia[0, 0] == pytest.approx(0.431 * 0.0135**2 / 2)
    assert inertia[1, 1] == pytest.approx(0.431 * (3 * 0.0135**2 + 0.096**2) / 12)
    np.testing.assert_array_equal(com, 0.0)
    # The screw's centre of mass sits toward its head (-x).
    assert mass_properties(catalog["M20_100"])[0][0] < -0.005


# ---- broken files -----------------------------------------------------------------------------


def _good_entries() -> list[dict]:
    return [
        {
            "name": "A",
            "class_index": 1,
            "shape": "box",
            "dims": {"length": 0.1, "width": 0.02, "height": 0.02},
            "mass": 0.05,
            "color": [0.1, 0.1, 0.1],
            "friction": 0.5,
            "graspable_width": 0.02,
        },
        {
            "name": "B",
            "class_index": 2,
            "shape": "ring",
            "dims": {"outer_diameter": 0.03, "inner_diameter": 0.02, "length": 0.045},
            "mass": 0.02,
            "color": [0.9, 0.9, 0.9],
            "friction": 0.4,
            "graspable_width": 0.03,
        },
    ]


def _write(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump({"objects": entries}))
    return path


def test_small_good_file_loads(tmp_path: Path) -> None:
    cat = load_catalog(_write(tmp_path, _good_entries()))
    assert cat.names == ["A", "B"]
    assert cat["B"].size == pytest.approx((0.045, 0.03, 0.03))


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda e: e[0].update(shape="sphere"), r"object 'A'.*field 'shape' is 'sphere'"),
        (lambda e: e[0]["dims"].pop("height"), r"object 'A'.*needs dims \['height'\]"),
        (lambda e: e[0]["dims"].update(width=-0.02), r"object 'A'.*'dims.width'.*positive"),
        (lambda e: e[1]["dims"].update(inner_diameter=0.04), r"object 'B'.*'dims.inner_diameter'"),
        (lambda e: e[1].update(name="A"), r"object 'A' \(objects\[1\]\): duplicate name"),
        (lambda e: e[1].update(class_index=1), r"object 'B'.*duplicate class_index 1"),
        (lambda e: e[1].update(class_index=3), r"'class_index' must run 1..2.*missing \[2\]"),
        (lambda e: e[0].pop("mass"), r"object 'A'.*missing field\(s\) \['mass'\]"),
        (lambda e: e[0].update(mass=0), r"object 'A'.*'mass'.*positive"),
        (lambda e: e[0].update(colour=[1, 0, 0]), r"object 'A'.*unknown field\(s\) \['colour'\]"),
        (lambda e: e[0].update(color=[1.5, 0, 0]), r"object 'A'.*'color'.*0..1"),
        (lambda e: e[0].update(graspable_width=0.2), r"object 'A'.*'graspable_width'"),
        (lambda e: e[0].update(class_index="1"), r"object 'A'.*'class_index'"),
    ],
)
def test_broken_files_name_entry_and_field(tmp_path: Path, mutate, pattern: str) -> None:
    entries = _good_entries()
    mutate(entries)
    with pytest.raises(ValueError, match=pattern):
        load_catalog(_write(tmp_path, entries))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_catalog(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("objects: [\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_catalog(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("something_else: 1\n")
    with pytest.raises(ValueError, match="list under 'objects'"):
        load_catalog(empty)
