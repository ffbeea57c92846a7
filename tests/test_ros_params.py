"""Declared parameters: validation rules, refusal naming the parameter, runtime changes; the
ROS environment and --set parsing of the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rclpy.parameter import Parameter

from grasp_pipeline.ros.environment import claim_domain_id
from grasp_pipeline.ros.params import Param, declare_parameters, validate_values

DOMAIN = claim_domain_id()

SPECS = (
    Param("rate", 10.0, "rate in Hz", range=(0.5, 30.0)),
    Param("count", 3, "how many", range=(1, 5)),
    Param("mode", "a", "a mode", choices=("a", "b")),
    Param("names", [], "some names", array_type="string"),
    Param("even", 2, "an even number", check=lambda v: None if v % 2 == 0 else "must be even"),
    Param("fixed", "x", "cannot change", read_only=True),
)


def test_validate_rules_name_the_parameter() -> None:
    assert (
        validate_values(SPECS, {"rate": 1, "count": 5, "mode": "b", "names": ["q"], "even": 4})
        == []
    )
    errors = validate_values(
        SPECS, {"rate": 31.0, "count": 2.5, "mode": "c", "even": 3, "bogus": 1}
    )
    assert errors == [
        "parameter 'rate' = 31.0 is outside [0.5, 30.0]",
        "parameter 'count' must be int, got float 2.5",
        "parameter 'mode' = 'c' is not one of ['a', 'b']",
        "parameter 'even' = 3: must be even",
        "unknown parameter 'bogus'",
    ]
    assert "must be int" in validate_values(SPECS, {"count": True})[0]  # bools are not ints


@pytest.fixture(autouse=True)
def _isolated(monkeypatch) -> None:
    """These nodes talk to nobody: discovery off, a domain of their own."""
    from grasp_pipeline.paths import config_path

    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "OFF")
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN))
    # Fast DDS reads its profile once per process: keep the shipped one for later tests here
    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", str(config_path("fastdds_shm.xml")))


@pytest.fixture()
def node():
    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    n = rclpy.create_node(
        "param_test",
        context=ctx,
        parameter_overrides=[
            Parameter("count", value=4),
            Parameter("names", value=["M20", "Motor"]),
        ],
        start_parameter_services=False,
    )
    yield n
    n.destroy_node()
    ctx.try_shutdown()


def test_declare_reads_overrides_and_defaults(node) -> None:
    ns = declare_parameters(node, SPECS)
    assert (ns.rate, ns.count, ns.mode, ns.names, ns.fixed) == (10.0, 4, "a", ["M20", "Motor"], "x")
    desc = node.describe_parameter("rate")
    assert desc.description == "rate in Hz"
    assert desc.floating_point_range[0].to_value == 30.0
    assert node.describe_parameter("fixed").read_only


def test_runtime_changes_are_validated(node) -> None:
    ns = declare_parameters(node, SPECS)
    res = node.set_parameters([Parameter("even", value=3)])[0]
    assert not res.successful and "parameter 'even' = 3: must be even" in res.reason
    assert ns.even == 2
    res = node.set_parameters([Parameter("mode", value="b")])[0]
    assert res.successful and ns.mode == "b"
    res = node.set_parameters([Parameter("rate", value=99.0)])[0]
    assert not res.successful and ns.rate == 10.0


def test_a_refused_atomic_set_changes_nothing(node) -> None:
    """One bad value refuses the whole set: no value changes, on_change is not called."""
    changes: list[dict] = []
    ns = declare_parameters(node, SPECS, on_change=changes.append)
    res = node.set_parameters_atomically(
        [Parameter("rate", value=20.0), Parameter("mode", value="b"), Parameter("even", value=3)]
    )
    assert not res.successful and "parameter 'even' = 3: must be even" in res.reason
    assert (ns.rate, ns.mode, ns.even) == (10.0, "a", 2) and changes == []
    assert node.get_parameter("rate").value == 10.0 and node.get_parameter("mode").value == "a"
    res = node.set_parameters_atomically(
        [Parameter("rate", value=20.0), Parameter("mode", value="b")]
    )
    assert res.successful and (ns.rate, ns.mode) == (20.0, "b")
    assert changes == [{"rate": 20.0, "mode": "b"}]


def test_a_set_refused_by_another_callback_changes_nothing(node) -> None:
    """A node's own check that refuses after ours accepted: the namespace and on_change stay
    untouched (they are applied only once every callback accepted the set)."""
    from rcl_interfaces.msg import SetParametersResult

    changes: list[dict] = []
    ns = declare_parameters(node, SPECS, on_change=changes.append)

    def no_b_with_high_rate(params):  # a cross-parameter rule of the node
        v = {p.name: p.value for p in params}
        ok = not (v.get("mode") == "b" and v.get("rate", 0) > 15)
        return SetParametersResult(successful=ok, reason="" if ok else "mode b needs rate <= 15")

    node.add_on_set_parameters_callback(no_b_with_high_rate)
    res = node.set_parameters_atomically(
        [Parameter("rate", value=20.0), Parameter("mode", value="b")]
    )
    assert not res.successful and "rate <= 15" in res.reason
    assert (ns.rate, ns.mode) == (10.0, "a") and changes == []


def test_bad_start_value_is_refused_naming_it() -> None:
    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    try:
        n = rclpy.create_node(
            "param_bad",
            context=ctx,
            parameter_overrides=[Parameter("even", value=7)],
            start_parameter_services=False,
        )
        with pytest.raises(ValueError, match="node param_bad: parameter 'even' = 7: must be even"):
            declare_parameters(n, SPECS)
        n.destroy_node()
    finally:
        ctx.try_shutdown()


def test_ros_env_defaults_and_domain_check(monkeypatch) -> None:
    from grasp_pipeline.paths import config_path
    from grasp_pipeline.ros.environment import ros_env

    env = ros_env(7, base={})
    assert env["ROS_DOMAIN_ID"] == "7"
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(config_path("fastdds_shm.xml"))
    # the user's own settings win
    mine = ros_env(None, base={"ROS_DOMAIN_ID": "3", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"})
    assert (mine["ROS_DOMAIN_ID"], mine["ROS_AUTOMATIC_DISCOVERY_RANGE"]) == ("3", "SUBNET")
    with pytest.raises(ValueError, match=r"0\.\.232"):
        ros_env(500)


CLAIM = """
import sys
from grasp_pipeline.ros.environment import claim_domain_id
try:
    print(claim_domain_id(int(sys.argv[1]), int(sys.argv[2])), claim_domain_id(), flush=True)
except RuntimeError as exc:
    print(exc, flush=True)
sys.stdin.read()  # hold the claim until told to go
"""


def _claimer(first: int, count: int) -> tuple[subprocess.Popen, str]:
    """A process that claims a domain of ``first..first+count-1`` and holds it; its first line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIM, str(first), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


def test_concurrent_processes_claim_different_domains() -> None:
    """Two processes started with the same ROS_DOMAIN_ID (two xdist workers, two checkouts) get
    different domains; a domain whose holder died is free again; a full range is refused."""
    first = 225  # 225..232: clear of the ranges developers here are given
    procs = []
    try:
        a, line_a = _claimer(first, 8)
        procs.append(a)
        b, line_b = _claimer(first, 8)
        procs.append(b)
        (da, again_a), (db, again_b) = (map(int, x.split()) for x in (line_a, line_b))
        assert (da, db) == (again_a, again_b)  # one claim per process
        assert da != db and {da, db} <= set(range(first, first + 8))
        c, line_c = _claimer(da, 1)  # da is held: nothing free in da..da
        procs.append(c)
        assert f"every ROS domain {da}..{da} is held" in line_c, line_c
        a.kill()
        a.wait(10)
        d, line_d = _claimer(da, 1)  # the killed holder's claim went with it
        procs.append(d)
        assert line_d.split() == [str(da), str(da)], line_d
    finally:
        for p in procs:
            p.kill()
            p.wait(10)


def test_cli_set_parsing() -> None:
    from grasp_pipeline.commands.ros import _parse_sets

    got = _parse_sets(
        [
            "camera_node.fps=12.5",
            "detector_node.target_object=M20",
            "camera_node.sim_objects=[M20, Motor]",
        ]
    )
    assert got == {
        "camera_node": {"fps": 12.5, "sim_objects": ["M20", "Motor"]},
        "detector_node": {"target_object": "M20"},
    }
    with pytest.raises(ValueError, match=r"node\.param=value"):
        _parse_sets(["fps=3"])
