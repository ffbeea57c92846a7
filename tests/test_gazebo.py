"""Gazebo SDF generated from the catalog: well-formed, every object present with its mass."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from grasp_pipeline.gazebo.sdf import write_world
from grasp_pipeline.objects import load_catalog


def test_world_and_models_hold_every_catalog_object(tmp_path) -> None:
    catalog = load_catalog()
    paths = write_world(tmp_path, catalog, surface_height=0.15)
    world = ET.parse(paths["world"]).getroot()
    assert world.tag == "sdf" and world.get("version") == "1.9"
    included = [i.findtext("name") for i in world.iter("include")]
    assert included == list(catalog.names) and len(included) == 13
    # objects rest on the 15 cm surface: include z = surface + half height
    for inc in world.iter("include"):
        spec = catalog[inc.findtext("name")]
        z = float(inc.findtext("pose").split()[2])
        assert z == pytest.approx(0.15 + spec.size[2] / 2, abs=2e-3)
    sensors = [s.get("type") for s in world.iter("sensor")]
    assert sensors == ["rgbd_camera"]
    for name in catalog.names:
        model = ET.parse(tmp_path / "models" / name / "model.sdf").getroot().find("model")
        assert model.get("name") == name
        assert float(model.findtext("link/inertial/mass")) == pytest.approx(catalog[name].mass)
        assert model.findall("link/collision") and model.findall("link/visual")
        ET.parse(tmp_path / "models" / name / "model.config")


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
