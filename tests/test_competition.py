"""The final (competition scenario): its scene, the judging of a pick, the cell's service areas,
and one short run through the ROS nodes that writes the JSON and the side-by-side GIF."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from grasp_pipeline.sim.competition import PickRecord, judge_pick, summarize_competition


@pytest.mark.parametrize("robot", ["franka", "youbot"])
def test_final_scene_four_heights_ten_tasks_eight_decoys_resting_and_seeded(robot: str) -> None:
    from grasp_pipeline.sim.scene import build_final_scene, final_scene_problems

    def build(seed: int):
        world, scene = build_final_scene(np.random.default_rng(seed), robot)
        poses = {o.body: world.object_pose(o.body).round(4) for o in scene.objects}
        problems = final_scene_problems(world, scene)
        world.close()
        return scene, poses, problems

    scene, poses, problems = build(11)
    assert problems == []
    heights = [a.height for a in scene.areas]
    assert len(heights) == 4 and sorted(heights) == [0.0, 0.05, 0.10, 0.15]
    tasks = [o for o in scene.objects if not o.decoy]
    decoys = [o for o in scene.objects if o.decoy]
    assert len(tasks) == 10 and len(decoys) == 8
    task_names = {o.name for o in tasks}
    assert len(task_names) == 10  # a pick is judged by label: task names are unique
    assert not task_names & {o.name for o in decoys}
    assert [n for n, _ in scene.tasks] == [o.name for o in sorted(tasks, key=lambda o: o.area)]
    assert {o.area for o in scene.objects} == {0, 1, 2, 3}
    again, poses2, _ = build(11)
    assert again.to_dict() == scene.to_dict()
    assert all(np.array_equal(poses[b], poses2[b]) for b in poses)
    other, _, _ = build(12)
    assert other.to_dict() != scene.to_dict()


def test_a_lifted_object_other_than_the_target_is_a_decoy_or_wrong_pick() -> None:
    before = {"Axis2#5": 0.02, "Drill#6": 0.03, "M20#7": 0.01}
    # the hand came up with the Drill (a decoy) instead of the Axis2, and the planner said held
    after = {"Axis2#5": 0.021, "Drill#6": 0.15, "M20#7": 0.01}
    v = judge_pick("Axis2", before, after, True, "holding", decoys=["Drill"])
    assert (v.success, v.decoy, v.wrong, v.lifted) == (False, True, ["Drill#6"], ["Drill#6"])
    assert v.reason.startswith("decoy lifted: Drill#6")
    # another task object lifted: a wrong pick, not a decoy pick
    v = judge_pick("Axis2", before, after, True, "holding", decoys=["Bearing"])
    assert (v.success, v.decoy, v.wrong) == (False, False, ["Drill#6"])
    # the target and a neighbour together: not a clean pick
    both = dict(after, **{"Axis2#5": 0.12})
    v = judge_pick("Axis2", before, both, True, "holding", decoys=["Drill"])
    assert not v.success and v.decoy
    # the target alone: success; the planner's word is needed too
    alone = dict(before, **{"Axis2#5": 0.09})
    assert judge_pick("Axis2", before, alone, True, "holding", ["Drill"]).success
    v = judge_pick("Axis2", before, alone, False, "closed on nothing", ["Drill"])
    assert (v.success, v.reason) == (False, "closed on nothing")
    v = judge_pick("Axis2", before, before, True, "holding", ["Drill"])
    assert not v.success and "rose only 0 mm" in v.reason

    recs = [
        PickRecord(0, "Axis2", "WS01", False, v.reason, ["Drill#6"], ["Drill#6"], True, 10.0, 4.0),
        PickRecord(1, "M20", "WS02", True, "lifted", ["M20#7"], [], False, 20.0, 6.5),
        PickRecord(2, "F20_20_B", "WS02", False, "x; y", ["S40#9"], ["S40#9"], False, 5.0, 1.0),
    ]
    s = summarize_competition(recs, {"robot": "franka"})
    assert (s["successes"], s["attempted"], s["decoys_picked"], s["wrong_picks"]) == (1, 3, 1, 2)
    assert s["total_seconds"] == pytest.approx(35.0)
    assert s["total_sim_seconds"] == pytest.approx(11.5)
    assert s["picks"][1]["surface"] == "WS02" and s["robot"] == "franka"


def test_cell_stands_at_each_area_with_its_camera_and_puts_aside_only_what_is_lifted() -> None:
    import pybullet as pb

    from grasp_pipeline.sim.robot_cell import CellRuntime

    rt = CellRuntime("franka", intrinsics=None)
    try:
        mounted = pb.getBasePositionAndOrientation(rt.arm.body, physicsClientId=rt.world.client)
        info = rt.reset_scene("final", [], 0, 5)
        assert info["area"] == info["final"]["tasks"][0]["area"]
        cam_in_base = np.linalg.inv(rt.base_pose_world) @ rt.camera_pose_world
        for k, a in enumerate(info["final"]["areas"]):
            rt.go_to_area(k)
            # base stands as high above each area as above the main surface: the planner's
            # base-frame cell and /tf_static's base -> camera hold at every area
            assert rt.base_pose_world[2, 3] - a["height"] == pytest.approx(0.0)
            assert rt.base_pose_world[1, 3] == pytest.approx(a["centre"][1])
            assert np.allclose(
                np.linalg.inv(rt.base_pose_world) @ rt.camera_pose_world, cam_in_base
            )
            # the body itself stands there (PyBullet places a base by its inertial frame)
            pos, _ = pb.getBasePositionAndOrientation(rt.arm.body, physicsClientId=rt.world.client)
            expect = np.add(mounted[0], [*a["centre"], a["height"] - 0.10])
            assert np.allclose(pos, expect, atol=1e-9), (pos, expect)
        with pytest.raises(ValueError, match="service area"):
            rt.go_to_area(4)
        on_here = [o for o in info["final"]["objects"] if o["area"] == 3]
        lifted = on_here[0]["body"]
        T = rt.world.object_pose(lifted)
        T[2, 3] += 0.12
        rt.world.set_object_pose(lifted, T)
        out = rt.put_aside()
        assert out["removed"] == [f"{on_here[0]['name']}#{lifted}"]
        assert len(rt.world.objects) == 17
        rt.reset_scene("empty", [], 0, 0)  # back at the main surface, extra areas gone
        assert not rt.world.extra_surfaces and rt.area == 0
    finally:
        rt.close()


@pytest.mark.ros
def test_final_through_the_ros_nodes_writes_picks_and_a_side_by_side_gif(tmp_path) -> None:
    from PIL import Image

    from grasp_pipeline.ros.environment import claim_domain_id

    domain = str(claim_domain_id())
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID=domain)
    out = tmp_path / "competition.json"
    cmd = [
        sys.executable,
        "-m",
        "grasp_pipeline.cli",
        "demo",
        "--scenario",
        "final",
        "--detector",
        "oracle",
        "--picks",
        "1",
        "--width",
        "160",
        "--height",
        "120",
        "--real-time-factor",
        "0",
        "--replans",
        "0",
        "--json",
        str(out),
        "--seed",
        "2",
        "--domain-id",
        domain,
    ]
    # 51-55 s measured beside a demo run on 2 cores (a CI run beside one timed out at 55 s)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert res.returncode == 0, res.stderr[-3000:]
    s = json.loads(out.read_text())
    assert s["scenario"] == "final" and s["attempted"] == 1
    assert s["command"].startswith("grasp-pipeline demo --scenario final")
    assert s["scope"] == "the first 1 of the 10 picks of the task list"
    pick = s["picks"][0]
    assert set(pick) >= {"object", "surface", "success", "reason", "seconds", "decoy"}
    assert (pick["object"], pick["surface"]) == tuple(s["tasks"][0].values())
    assert len(s["tasks"]) == 10
    assert pick["seconds"] > 0 and s["decoys_picked"] == 0
    assert len(s["decoys"]) >= 1 and len(s["areas"]) == 4
    gif = Image.open(out.with_suffix(".gif"))
    assert gif.n_frames >= 3
    assert gif.size == (640, 240)  # 320x240 third-person view beside the 320x240 camera view
    frame = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(frame[:, :320], frame[:, 320:])
    assert s["video"]["bytes"] == out.with_suffix(".gif").stat().st_size < 5_000_000
