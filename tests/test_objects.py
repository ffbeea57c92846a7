"""The object catalog: the shipped YAML loads with the rulebook numbers and the referee box's ids;
pools; the composite shapes' geometry and mass; broken files are refused."""

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

CLASSIC = [
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
ADVANCED = [
    "Axis2",
    "Bearing2",
    "Housing",
    "Motor2",
    "Spacer",
    "Screwdriver",
    "Wrench",
    "Drill",
    "AllenKey",
]
NAMES = CLASSIC + ADVANCED
# atwork-commander atwork_commander_msgs/Object.msg
REFEREE_IDS = {
    "F20_20_B": 11,
    "F20_20_G": 12,
    "S40_40_B": 13,
    "S40_40_G": 14,
    "M20_100": 15,
    "M20": 16,
    "M30": 17,
    "R20": 18,
    "Axis2": 20,
    "Bearing2": 21,
    "Housing": 22,
    "Motor2": 23,
    "Spacer": 24,
    "Screwdriver": 25,
    "Wrench": 26,
    "Drill": 27,
    "AllenKey": 28,
    "Bearing_Box": 31,
    "Bearing": 32,
    "Axis": 33,
    "Distance_Tube": 34,
    "Motor": 35,
}


def _slotted_profile():
    """A 40 mm profile with slots (the shape the catalog's profiles take with a model trained
    on them; see config/objects.yaml)."""
    from grasp_pipeline.objects import _parse_entry

    entry = {
        "name": "S40_slotted",
        "class_index": 1,
        "shape": "profile",
        "dims": {"length": 0.1, "width": 0.04, "slot_width": 0.01, "slot_depth": 0.012},
        "mass": 0.186,
        "color": [0.7, 0.7, 0.7],
        "friction": 0.6,
        "graspable_width": 0.04,
    }
    return _parse_entry(entry, 0, "<test>")


SLOTTED = _slotted_profile()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_object_in_class_order(catalog: Catalog) -> None:
    """The classic 13 keep class indices 1..13 (datasets and the shipped model rely on them); the
    advanced set follows."""
    assert len(catalog) == 22
    assert catalog.names == NAMES
    for i, name in enumerate(NAMES, start=1):
        assert catalog.by_index(i).name == name
        assert catalog[name].class_index == i
        assert name in catalog


def test_referee_box_ids(catalog: Catalog) -> None:
    assert {s.name: s.class_id for s in catalog} == REFEREE_IDS
    for name, cid in REFEREE_IDS.items():
        assert catalog.by_class_id(cid).name == name
    red, blue = catalog.by_class_id(40), catalog.by_class_id(41)
    assert (red.name, red.color_name, blue.name, blue.color_name) == (
        "CONTAINER_RED",
        "red",
        "CONTAINER_BLUE",
        "blue",
    )
    assert red.outer == pytest.approx((0.135, 0.160, 0.082))
    assert catalog.container("blue") is blue and catalog.container("CONTAINER_RED") is red
    with pytest.raises(ValueError, match="class id 19"):
        catalog.by_class_id(19)
    with pytest.raises(UnknownObjectError, match="green"):
        catalog.container("green")


def test_pools(catalog: Catalog) -> None:
    basic = ["F20_20_B", "F20_20_G", "S40_40_B", "S40_40_G", "M20_100", "M20", "M30"]
    assert catalog.default_pool == "rulebook"
    assert catalog.pool() == catalog.pool("rulebook") == basic + ADVANCED  # R20 left out
    assert catalog.pool("classic2018") == CLASSIC
    assert catalog.pool("all") == NAMES
    assert catalog.pool("rockin") == ["Bearing_Box", "Bearing", "Axis", "Distance_Tube", "Motor"]
    # channels a mask needs: classic data keeps the 13 channels of the shipped model
    assert catalog.num_classes(catalog.pool("classic2018")) == 13
    assert catalog.num_classes(catalog.pool("rulebook")) == 22
    with pytest.raises(ValueError, match=r"unknown object pool 'rulebook2031'.*classic2018"):
        catalog.pool("rulebook2031")


@pytest.mark.parametrize(
    ("name", "shape", "size_mm", "mass_kg", "grasp_mm"),
    [
        ("F20_20_B", "profile", (100, 20, 20), 0.049, 20),
        ("S40_40_G", "profile", (100, 40, 40), 0.186, 40),
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
        # advanced set (estimated sizes, see the YAML)
        ("Axis2", "stepped_cylinder", (100, 30, 30), 0.317, 30),
        ("Bearing2", "ring", (47, 47, 14), 0.106, 47),
        ("Housing", "block_with_hole", (60, 50, 30), 0.186, 50),
        ("Motor2", "stepped_cylinder", (80, 37, 37), 0.200, 37),
        ("Spacer", "ring", (30, 30, 20), 0.011, 30),
        # handle 28 mm across flats: 32.332 mm across corners
        ("Screwdriver", "screwdriver", (195, 32.332, 28), 0.080, 28),
        ("Wrench", "wrench", (160, 32, 5), 0.075, 13),
        # lying on its side: 22.5 mm body radius + 130 mm grip along y
        ("Drill", "drill", (160, 152.5, 45), 0.600, 45),
        ("AllenKey", "allen_key", (110, 35, 8), 0.060, 8),
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
    h = catalog["Housing"].dims
    vol = (
        h["length"] * h["width"] * h["height"] - math.pi / 4 * h["hole_diameter"] ** 2 * h["height"]
    )
    assert catalog["Housing"].mass == pytest.approx(2700.0 * vol, rel=0.01)
    k = catalog["AllenKey"].dims
    area = math.sqrt(3) / 2 * k["across_flats"] ** 2
    vol = area * (k["long_arm"] + k["short_arm"] - k["across_flats"])
    assert catalog["AllenKey"].mass == pytest.approx(7850.0 * vol, rel=0.01)


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
    with pytest.raises(ValueError, match="class_index 23"):
        catalog.by_index(23)


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
    if spec.shape == "profile":
        w, sw, sd = d["width"], d["slot_width"], d["slot_depth"]
        in_slot = np.zeros(len(p), bool)
        for a, b in ((y, z), (z, y)):  # a slot: |a| < sw/2 within sd of face b = +-w/2
            in_slot |= (np.abs(a) < sw / 2) & (np.abs(b) > w / 2 - sd)
        return ~in_slot
    if spec.shape == "block_with_hole":
        return x * x + y * y >= (d["hole_diameter"] / 2) ** 2
    if spec.shape == "allen_key":
        f = d["across_flats"]
        long_arm = y <= -spec.size[1] / 2 + f
        short_arm = x >= spec.size[0] / 2 - f
        return long_arm | short_arm
    if spec.shape == "stepped_cylinder":
        x0 = -spec.size[0] / 2
        body = (x < x0 + d["body_length"]) & (y * y + z * z <= (d["body_diameter"] / 2) ** 2)
        shaft = (x >= x0 + d["body_length"]) & (y * y + z * z <= (d["shaft_diameter"] / 2) ** 2)
        return body | shaft
    # screw: head over x < x0 + head_height, shaft beyond
    x0 = -spec.size[0] / 2
    head = (x < x0 + d["head_height"]) & _in_hexagon(y, z, d["head_across_flats"])
    shaft = (x >= x0 + d["head_height"]) & (y * y + z * z <= (d["shaft_diameter"] / 2) ** 2)
    return head | shaft


@pytest.mark.parametrize(
    "name",
    [
        "Bearing_Box",
        "M20_100",
        "M30",
        "R20",
        "Bearing",
        "Axis",
        "Motor",
        # composite shapes: the grid sampling of their parts against the ideal solid
        "slotted_profile",
        "Housing",
        "AllenKey",
        "Axis2",
    ],
)
def test_mass_properties_against_monte_carlo(catalog: Catalog, name: str) -> None:
    spec = SLOTTED if name == "slotted_profile" else catalog[name]
    rng = np.random.default_rng(0)
    p = (rng.random((400_000, 3)) - 0.5) * np.array(spec.size)
    p = p[_inside(spec, p)]
    com_ref = p.mean(axis=0)
    c = np.cov((p - com_ref).T, bias=True)
    inertia_ref = spec.mass * (np.trace(c) * np.eye(3) - c)
    com, inertia = mass_properties(spec)
    np.testing.assert_allclose(com, com_ref, atol=5e-4)
    # the housing's hole is a 12-gon in the parts: a percent or two off the round hole
    np.testing.assert_allclose(np.diag(inertia), np.diag(inertia_ref), rtol=0.03)


def test_mass_properties_hand_cases(catalog: Catalog) -> None:
    # Box: m/12 (y^2 + z^2) etc. for the 50 x 45 x 25 mm, 102 g bearing box.
    _, inertia = mass_properties(catalog["Bearing_Box"])
    m, (x, y, z) = 0.102, (0.050, 0.045, 0.025)
    np.testing.assert_allclose(
        np.diag(inertia),
        [m / 12 * (y * y + z * z), m / 12 * (x * x + z * z), m / 12 * (x * x + y * y)],
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
        (lambda e: e[0].update(id="11"), r"object 'A'.*'id'"),
        (lambda e: (e[0].update(id=11), e[1].update(id=11)), r"object 'B'.*duplicate id 11"),
        (
            lambda e: e[0].update(
                shape="profile",
                dims={"length": 0.1, "width": 0.02, "slot_width": 0.01, "slot_depth": 0.006},
            ),
            r"object 'A'.*slot_width \+ 2 dims.slot_depth",
        ),
        (
            lambda e: e[0].update(
                shape="block_with_hole",
                dims={"length": 0.1, "width": 0.02, "height": 0.02, "hole_diameter": 0.015},
            ),
            r"object 'A'.*hole_diameter must be at most 0.68",
        ),
        (
            lambda e: e[0].update(
                shape="stepped_cylinder",
                dims={
                    "body_diameter": 0.01,
                    "body_length": 0.05,
                    "shaft_diameter": 0.02,
                    "shaft_length": 0.05,
                },
            ),
            r"object 'A'.*shaft_diameter' must not exceed 'dims.body_diameter'",
        ),
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


def test_the_solids_know_every_shape_the_catalog_knows() -> None:
    """The catalog's shapes (SHAPE_DIMS) and the solids' (closed form + composite) are the same
    set, each shape once: a shape added to one list and not the other fails here, not at load."""
    from grasp_pipeline.objects import SHAPE_DIMS
    from grasp_pipeline.part_solids import CLOSED_FORM_SHAPES, COMPOSITE_SHAPES

    solids = CLOSED_FORM_SHAPES + COMPOSITE_SHAPES
    assert len(set(solids)) == len(solids)
    assert set(solids) == set(SHAPE_DIMS)


def test_composite_shapes_fill_their_bounding_box(catalog: Catalog) -> None:
    """Every composite shape's parts span exactly its catalog size, centred on the origin, and
    the holes are open: profile slots, the housing's bore, the wrench's ring."""
    from grasp_pipeline.part_solids import inside_parts, object_parts

    for name in ("S40_slotted", "Housing", "Wrench", "Drill", "AllenKey", "Screwdriver", "Motor2"):
        spec = SLOTTED if name == "S40_slotted" else catalog[name]
        corners = []
        for q in object_parts(spec):
            assert q.kind in ("box", "cylinder")
            corners.append(q)
        size = np.array(spec.size)
        g = [(np.arange(160) + 0.5) / 160 * 1.1 * s - 0.55 * s for s in size]
        pts = np.stack(np.meshgrid(*g, indexing="ij"), -1).reshape(-1, 3)
        inside = pts[inside_parts(object_parts(spec), pts)]
        lo, hi = inside.min(axis=0), inside.max(axis=0)
        np.testing.assert_allclose(hi - lo, size, rtol=0.03, err_msg=name)
        np.testing.assert_allclose((hi + lo) / 2, 0.0, atol=0.01 * size.max(), err_msg=name)
    parts = object_parts(SLOTTED)
    w = SLOTTED.dims["width"]
    # the centre of the top face's slot is empty, its lips are not
    assert not inside_parts(parts, np.array([[0.0, 0.0, w / 2 - 0.001]]))[0]
    assert inside_parts(parts, np.array([[0.0, 0.008, w / 2 - 0.001]]))[0]
    assert SLOTTED.size == pytest.approx((0.1, 0.04, 0.04))
    assert not inside_parts(object_parts(catalog["Housing"]), np.zeros((1, 3)))[0]
    wrench = catalog["Wrench"]
    ring_centre = np.array([[-wrench.size[0] / 2 + wrench.dims["head_width"] / 2, 0.0, 0.0]])
    assert not inside_parts(object_parts(wrench), ring_centre)[0]
    jaw = np.array([[wrench.size[0] / 2 - 0.002, 0.0, 0.0]])
    assert not inside_parts(object_parts(wrench), jaw)[0]


def test_pools_and_containers_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    doc = {"objects": _good_entries(), "pools": {"p": ["B"]}, "default_pool": "p"}
    path.write_text(yaml.safe_dump(doc))
    cat = load_catalog(path)
    assert cat.pool() == ["B"] and cat.pool("all") == ["A", "B"] and cat.pools == ["all", "p"]
    for bad, pattern in (
        ({"pools": {"p": ["C"]}}, r"pool 'p' names unknown object\(s\) \['C'\]"),
        ({"pools": {"all": ["A"]}}, "reserved"),
        ({"pools": {"p": ["A"]}, "default_pool": "q"}, "default_pool 'q' is not a pool"),
        (
            {
                "containers": [
                    {
                        "name": "A",
                        "id": 40,
                        "color_name": "red",
                        "outer": [0.1, 0.1, 0.1],
                        "wall": 0.004,
                        "mass": 0.1,
                        "color": [1, 0, 0],
                    }
                ]
            },
            r"container name\(s\) \['A'\] are also object names",
        ),
        ({"containers": [{"name": "C"}]}, r"containers\[0\]: missing field"),
    ):
        path.write_text(yaml.safe_dump({"objects": _good_entries(), **bad}))
        with pytest.raises(ValueError, match=pattern):
            load_catalog(path)


def test_top_view_is_the_part_seen_from_above() -> None:
    """A box is its height everywhere; a profile is its width but along its top slot, slot
    depth lower; the Allen key's L covers its two arms only."""
    from grasp_pipeline.objects import top_view

    catalog = load_catalog()
    box = catalog["Bearing_Box"]
    tv = top_view(box, 0.001)
    assert tv.shape == (round(box.size[1] / 0.001), round(box.size[0] / 0.001))
    assert np.allclose(tv, box.size[2], atol=0.001)
    for name in ("F20_20_B", "S40_40_G"):
        profile = catalog[name]
        w, sw, sd = (profile.dims[k] for k in ("width", "slot_width", "slot_depth"))
        tv = top_view(profile, 0.001)
        assert tv.shape == (round(w / 0.001), round(profile.size[0] / 0.001))
        in_slot = np.abs((np.arange(tv.shape[0]) + 0.5) * 0.001 - w / 2) < sw / 2
        assert np.allclose(tv[in_slot], w - sd, atol=0.001), name
        assert np.allclose(tv[~in_slot], w, atol=0.001), name
    key = catalog["AllenKey"]
    tv = top_view(key, 0.001)
    f, la, sa = (key.dims[k] for k in ("across_flats", "long_arm", "short_arm"))
    area = (tv > 0).sum() * 1e-6
    assert area == pytest.approx(f * la + f * (sa - f), rel=0.1)
    assert tv.max() == pytest.approx(f, abs=0.001)
    with pytest.raises(ValueError, match="cell_m"):
        top_view(key, 0.0)
