"""Gazebo SDF generated from the catalog: well-formed, every object and container present with its
mass, the simulator's geometry (holes and slots included), nothing overlapping on the surface."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from grasp_pipeline.gazebo.sdf import write_world
from grasp_pipeline.objects import load_catalog, mass_properties


def test_world_and_models_hold_every_catalog_object(tmp_path) -> None:
    catalog = load_catalog()
    paths = write_world(tmp_path, catalog, surface_height=0.15)
    world = ET.parse(paths["world"]).getroot()
    assert world.tag == "sdf" and world.get("version") == "1.9"
    included = [i.findtext("name") for i in world.iter("include")]
    assert included == [*catalog.names, "CONTAINER_RED", "CONTAINER_BLUE"] and len(included) == 24
    # objects rest on the 15 cm surface: include z = surface + half height
    footprints = []
    for inc in world.iter("include"):
        name = inc.findtext("name")
        x, y, z = (float(v) for v in inc.findtext("pose").split()[:3])
        if name in catalog:
            spec = catalog[name]
            assert z == pytest.approx(0.15 + spec.size[2] / 2, abs=2e-3)
            sx, sy = spec.size[:2]
        else:
            sx, sy, sz = catalog.container(name).outer
            assert z == pytest.approx(0.15 + sz / 2)
        footprints.append((x - sx / 2, x + sx / 2, y - sy / 2, y + sy / 2))
        assert abs(x) + sx / 2 <= 0.4 and abs(y) + sy / 2 <= 0.3, name  # on the surface
    for i, a in enumerate(footprints):  # no two footprints overlap
        for b in footprints[i + 1 :]:
            assert a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2]
    sensors = [s.get("type") for s in world.iter("sensor")]
    assert sensors == ["rgbd_camera"]
    for name in [*catalog.names, "CONTAINER_RED", "CONTAINER_BLUE"]:
        model = ET.parse(tmp_path / "models" / name / "model.sdf").getroot().find("model")
        assert model.findall("link/collision") and model.findall("link/visual")
        ET.parse(tmp_path / "models" / name / "model.config")
        if name not in catalog:
            assert model.findtext("static") == "true"
            continue
        assert model.get("name") == name
        assert float(model.findtext("link/inertial/mass")) == pytest.approx(catalog[name].mass)


def test_box_model_has_the_catalog_size_and_ring_has_a_hole(tmp_path) -> None:
    catalog = load_catalog()
    write_world(tmp_path, catalog)
    box = ET.parse(tmp_path / "models" / "Bearing_Box" / "model.sdf").getroot()
    size = [float(v) for v in box.find(".//collision/geometry/box/size").text.split()]
    assert size == pytest.approx(list(catalog["Bearing_Box"].size))
    ring = ET.parse(tmp_path / "models" / "Bearing" / "model.sdf").getroot()
    staves = ring.findall(".//collision")
    assert len(staves) == 12  # the hole is real: nothing at the centre
    for c in staves:
        x, y = (float(v) for v in c.findtext("pose").split()[:2])
        assert (x * x + y * y) ** 0.5 > catalog["Bearing"].dims["inner_diameter"] / 2


def test_bad_surface_height(tmp_path) -> None:
    with pytest.raises(ValueError, match="surface_height"):
        write_world(tmp_path, surface_height=3.0)


def test_cli_writes_the_world(tmp_path) -> None:
    from grasp_pipeline.cli import main

    assert main(["gazebo", "world", "--out", str(tmp_path / "gz")]) == 0
    assert (tmp_path / "gz" / "world.sdf").is_file()


def test_models_use_the_simulator_geometry(tmp_path) -> None:
    """Every part of every model is a part of part_solids.object_parts: same kind, size and pose
    (the SDF rpy turn the part's local axes exactly as the PyBullet quaternion does)."""
    from scipy.spatial.transform import Rotation

    from grasp_pipeline.part_solids import object_parts

    catalog = load_catalog()
    write_world(tmp_path, catalog)
    for spec in catalog:
        model = ET.parse(tmp_path / "models" / spec.name / "model.sdf").getroot()
        cols = model.findall(".//collision")
        parts = object_parts(spec)
        assert len(cols) == len(parts), spec.name
        for col, part in zip(cols, parts, strict=True):
            pose = [float(v) for v in col.findtext("pose").split()]
            np.testing.assert_allclose(pose[:3], part.position, atol=1e-6)
            R_sdf = Rotation.from_euler("xyz", pose[3:]).as_matrix()
            np.testing.assert_allclose(R_sdf, Rotation.from_quat(part.quat).as_matrix(), atol=1e-6)
            if part.kind == "box":
                size = [float(v) for v in col.findtext("geometry/box/size").split()]
                np.testing.assert_allclose(size, 2 * np.asarray(part.half_extents), atol=1e-6)
            else:
                assert float(col.findtext("geometry/cylinder/radius")) == pytest.approx(part.radius)
        com = [float(v) for v in model.findtext(".//inertial/pose").split()[:3]]
        np.testing.assert_allclose(com, mass_properties(spec)[0], atol=1e-6)
    # the housing's bore is open in Gazebo too: no part covers its centre
    from grasp_pipeline.part_solids import inside_parts

    assert not inside_parts(object_parts(catalog["Housing"]), np.zeros((1, 3)))[0]
