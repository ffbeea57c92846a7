"""The PyBullet cell: object geometry, masses, poses, resting heights, containers, random scenes."""

from __future__ import annotations

import math

import numpy as np
import pybullet as p
import pytest
from scipy.spatial.transform import Rotation

from grasp_pipeline.objects import load_catalog
from grasp_pipeline.part_solids import object_parts
from grasp_pipeline.sim.shapes import center_of_mass
from grasp_pipeline.sim.world import CONTAINER_OUTER_M, SERVICE_AREA_HEIGHTS_M, SimWorld

CATALOG = load_catalog()


def _pose(xyz, rotvec=(0.0, 0.0, 0.0)) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = xyz
    return T


@pytest.fixture
def world():
    w = SimWorld(surface_height=0.10, catalog=CATALOG)
    yield w
    w.close()


def test_every_object_matches_catalog_size_mass_friction(world):
    for spec in CATALOG:
        body = world.spawn_object(spec.name, _pose([0, 0, 1.0]))
        lo, hi = p.getAABB(body, physicsClientId=world.client)
        np.testing.assert_allclose(np.subtract(hi, lo), spec.size, atol=2e-4, err_msg=spec.name)
        mass, friction = p.getDynamicsInfo(body, -1, physicsClientId=world.client)[:2]
        assert mass == pytest.approx(spec.mass) and friction == pytest.approx(spec.friction)
        world.remove_object(body)
    assert world.objects == {}


def test_screw_centre_of_mass_by_hand():
    # head: hexagon area sqrt(3)/2 * 0.03^2 * 0.0125 m = 9.743e-6 m^3 at x = -0.05; shaft
    # pi * 0.01^2 * 0.1 = 3.1416e-5 m^3 at x = +0.00625 (object frame at the bbox centre).
    v_head, v_shaft = math.sqrt(3) / 2 * 0.03**2 * 0.0125, math.pi * 0.01**2 * 0.1
    expected = (v_head * -0.05 + v_shaft * 0.00625) / (v_head + v_shaft)
    com = center_of_mass(CATALOG["M20_100"])
    assert com[0] == pytest.approx(expected, abs=1e-9) and expected == pytest.approx(
        -0.00705, abs=1e-4
    )
    np.testing.assert_array_equal(center_of_mass(CATALOG["M20"]), np.zeros(3))


def test_pose_round_trip_and_com_bookkeeping(world):
    T = _pose([0.05, -0.02, 0.4], [0.3, -1.2, 2.0])
    body = world.spawn_object("M20_100", T)
    np.testing.assert_allclose(world.object_pose(body), T, atol=1e-9)
    # PyBullet reports the centre of mass, which is T @ com.
    pos, _ = p.getBasePositionAndOrientation(body, physicsClientId=world.client)
    com = center_of_mass(CATALOG["M20_100"])
    np.testing.assert_allclose(pos, T[:3, :3] @ com + T[:3, 3], atol=1e-9)


@pytest.mark.parametrize("height", SERVICE_AREA_HEIGHTS_M)
def test_objects_rest_on_each_service_area_height(height):
    with SimWorld(surface_height=height, catalog=CATALOG) as w:
        assert w.surface_z == height
        bodies = {}
        # rows along x over the 0.8 x 0.6 m surface, 3 cm apart (footprints of up to 16 cm)
        x, y, row = -0.38, -0.27, 0.0
        for i, spec in enumerate(CATALOG):
            if x + spec.size[0] > 0.38:
                x, y, row = -0.38, y + row + 0.03, 0.0
            row = max(row, spec.size[1])
            centre = [x + spec.size[0] / 2, y + spec.size[1] / 2]
            T = _pose([*centre, height + spec.size[2] / 2 + 0.002], [0, 0, 0.02 * i])
            bodies[w.spawn_object(spec.name, T)] = spec
            x += spec.size[0] + 0.03
        assert y + row < 0.3
        assert w.settle(max_seconds=3.0)
        for body, spec in bodies.items():
            T = w.object_pose(body)
            if spec.shape == "screw":
                # The hex head (30 mm) is thicker than the shaft (20 mm): the screw rests on a head
                # flat and the shaft tip, tilted by atan(5 mm / 100 mm) = 2.86 deg.
                d = spec.dims
                tilt = math.atan(
                    (d["head_across_flats"] - d["shaft_diameter"]) / 2 / d["shaft_length"]
                )
                assert math.acos(T[2, 2]) == pytest.approx(tilt, abs=math.radians(0.3))
                continue
            # resting pose: the object's z stays up and its centre is half its height above the top
            if spec.shape == "stepped_cylinder":  # round: may roll about its own axis (x)
                assert abs(T[2, 0]) < 0.01, spec.name
            else:
                assert T[2, 2] > 0.9999, spec.name
            assert T[2, 3] == pytest.approx(height + spec.size[2] / 2, abs=1.5e-3), spec.name


def test_hollow_parts_leave_the_hole_free(world):
    # A vertical ray through the axis of a flat bearing/nut misses it; one through the wall hits.
    for name in ("Bearing", "M30", "Distance_Tube"):
        spec = CATALOG[name]
        body = world.spawn_object(name, _pose([0, 0, 0.5]))
        through_hole = p.rayTest([0, 0, 1], [0, 0, 0.3], physicsClientId=world.client)[0]
        assert through_hole[0] != body, name
        r_wall = 0.25 * (
            spec.dims.get("outer_diameter", spec.dims.get("across_flats"))
            + spec.dims.get("inner_diameter", spec.dims.get("hole_diameter"))
        )
        hit = p.rayTest([0, r_wall, 1], [0, r_wall, 0.3], physicsClientId=world.client)[0]
        assert hit[0] == body and hit[3][2] == pytest.approx(0.5 + spec.size[2] / 2, abs=1e-5), name
        world.remove_object(body)


def test_container_outer_size(world):
    body = world.add_container("red", 0.1, 0.05, 0.0)
    lo, hi = p.getAABB(body, physicsClientId=world.client)
    np.testing.assert_allclose(np.subtract(hi, lo), CONTAINER_OUTER_M, atol=2e-4)
    assert lo[2] == pytest.approx(world.surface_z, abs=2e-4)
    with pytest.raises(ValueError, match="colour"):
        world.add_container("green", 0, 0, 0)


def test_random_scene_is_seeded_and_clutter_touches():
    poses = []
    for _ in range(2):
        with SimWorld(surface_height=0.05, catalog=CATALOG) as w:
            bodies = w.random_scene(np.random.default_rng(11), 5, clutter=True)
            poses.append([w.object_pose(b) for b in bodies])
            contacts = {
                tuple(sorted((c[1], c[2])))
                for c in p.getContactPoints(physicsClientId=w.client)
                if c[1] in w.objects and c[2] in w.objects
            }
            for b in bodies:
                assert w.object_pose(b)[2, 3] > w.surface_z
    assert len(poses[0]) == len(poses[1]) >= 4
    for a, b in zip(*poses, strict=True):
        np.testing.assert_array_equal(a, b)
    assert contacts, "cluttered objects should touch each other"


def test_spread_scene_objects_do_not_touch():
    with SimWorld(surface_height=0.0, catalog=CATALOG) as w:
        names = ["F20_20_B", "Bearing_Box", "M20"]
        bodies = w.random_scene(
            np.random.default_rng(3), 3, clutter=False, names=names, radius=0.15
        )
        assert len(bodies) == 3
        assert {w.objects[b].spec.name for b in bodies} <= set(names)
        touching = [
            c
            for c in p.getContactPoints(physicsClientId=w.client)
            if c[1] in w.objects and c[2] in w.objects
        ]
        assert touching == []


def test_bad_input_errors(world):
    with pytest.raises(ValueError, match="4x4"):
        world.spawn_object("M20", np.eye(3))
    with pytest.raises(ValueError, match="rotation"):
        world.spawn_object("M20", np.diag([1.0, 1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="not an object"):
        world.remove_object(12345)
    with pytest.raises(ValueError, match="surface_height"):
        SimWorld(surface_height=-0.1, catalog=CATALOG)


def test_unknown_shape_is_refused():
    spec = CATALOG["M20"]
    bad = type(spec)(**{**spec.__dict__, "shape": "torus"})
    with pytest.raises(ValueError, match="unknown shape 'torus'"):
        object_parts(bad)


def test_clear_objects_removes_everything(world):
    world.random_scene(np.random.default_rng(0), 2)
    world.add_container("blue", 0.2, 0.1, 0.0)
    world.add_distractor(np.random.default_rng(1), -0.2, 0.1)
    world.clear_objects()
    assert world.objects == {} and world.containers == [] and world.distractors == []
    # only floor and table remain
    assert p.getNumBodies(physicsClientId=world.client) == 2


def test_clutter_kinds_and_catalog_containers(world):
    """Every non-catalog clutter kind is created, recorded and kept out of the catalog objects;
    containers take their size and colour from the catalog."""
    from grasp_pipeline.sim.world import DISTRACTOR_KINDS

    rng = np.random.default_rng(3)
    for i, kind in enumerate(DISTRACTOR_KINDS):
        body = world.add_distractor(rng, -0.3 + 0.12 * i, -0.2, kind=kind)
        assert world.distractor_kinds[body] == kind and body not in world.objects
    with pytest.raises(ValueError, match="distractor kind"):
        world.add_distractor(rng, 0.0, 0.0, kind="banana")
    assert world.settle(max_seconds=3.0)
    body = world.add_container("CONTAINER_BLUE", 0.2, 0.15, 0.0)
    lo, hi = (np.asarray(v) for v in p_aabb(world, body))
    np.testing.assert_allclose(hi - lo, CATALOG.container("blue").outer, atol=2e-3)


def p_aabb(world, body):
    import pybullet as p

    return p.getAABB(body, physicsClientId=world.client)
