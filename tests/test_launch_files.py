"""Static checks of launch/*.launch.py (the launch system is not installed here; the files were run
with the real one locally, see tests/test_colcon_install.py for the installed nodes): executables
exist among the console scripts, config files exist, every LaunchConfiguration is declared with a
description, wrappers declare and pass on every argument of the file they include, required nodes
end the launch when they exit; and the config YAMLs validate against the nodes' parameters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grasp_pipeline.ros.config_file import check_params_file, read_params_file

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
EXPECTED = {"franka", "youbot", "camera", "sim_franka", "sim_youbot", "cell", "sim_cell"}


def console_scripts() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "=" in node.value
            and ":" in node.value
        ):
            names.add(node.value.split("=")[0].strip())
    return names


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _calls(tree: ast.AST, func: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == func
    ]


def _str(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def test_every_expected_launch_file_exists() -> None:
    assert {p.name.removesuffix(".launch.py") for p in LAUNCH_FILES} >= EXPECTED


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_consistent(path: Path) -> None:
    tree = ast.parse(path.read_text())
    # module-level string constants (e.g. CONFIG = "sim_franka.yaml") resolve Name references
    consts = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    scripts = console_scripts()
    nodes = [c for c in _calls(tree, "Node") if _str(_kw(c, "package")) == "grasp_pipeline"]
    for call in nodes:
        exe = _str(_kw(call, "executable"))
        assert exe in scripts, (
            f"{path.name}: executable {exe!r} is not a console script {sorted(scripts)}"
        )
    declared = {}
    for call in _calls(tree, "DeclareLaunchArgument"):
        name = _str(call.args[0]) if call.args else _str(_kw(call, "name"))
        desc = _str(_kw(call, "description"))
        assert desc, f"{path.name}: argument {name!r} has no description"
        declared[name] = call
    read = [_str(c.args[0]) for c in _calls(tree, "LaunchConfiguration")]
    # cell.launch.py reads the optional overrides with _given(context, "name", ...)
    read += [_str(a) for c in _calls(tree, "_given") for a in c.args[1:]]
    for name in read:
        assert name in declared, f"{path.name}: LaunchConfiguration({name!r}) is never declared"
    # every yaml named (literal, a constant, or an argument default) exists in config/
    yamls = {v for v in consts.values() if isinstance(v, str) and v.endswith(".yaml")}
    yamls |= {
        s
        for n in ast.walk(tree)
        if (s := _str(n)) and s.endswith(".yaml") and "/" not in s and " " not in s
    }
    # launch files of this package it includes exist and declare every argument passed to them
    included = {s for n in ast.walk(tree) if (s := _str(n)) and s.endswith(".launch.py")}
    for inc in included:
        inc_path = path.parent / inc
        assert inc_path.is_file(), f"{path.name}: included launch/{inc} does not exist"
        inc_declared = {
            _str(c.args[0])
            for c in _calls(ast.parse(inc_path.read_text()), "DeclareLaunchArgument")
        }
        for call in _calls(tree, "IncludeLaunchDescription"):
            args = _kw(call, "launch_arguments")
            mapping = args.func.value if isinstance(args, ast.Call) else None
            if isinstance(mapping, ast.Dict):
                for key in map(_str, mapping.keys):
                    assert key in inc_declared, f"{path.name}: {inc} declares no argument {key!r}"
    assert yamls or included, f"{path.name} names no parameter file and includes no launch file"
    for y in yamls:
        assert (ROOT / "config" / y).is_file(), f"{path.name}: config/{y} does not exist"
    # config paths are package-relative, never absolute
    for n in ast.walk(tree):
        s = _str(n)
        assert not (s and s.startswith("/") and s.endswith(".yaml")), (
            f"{path.name}: absolute config path {s}"
        )


def test_launch_parser_catches_an_undeclared_argument(tmp_path: Path) -> None:
    """The checker itself must be able to fail."""
    bad = tmp_path / "bad.launch.py"
    bad.write_text(
        "from launch.substitutions import LaunchConfiguration\n"
        "x = LaunchConfiguration('nowhere')\n"
        "CONFIG = 'franka.yaml'\n"
    )
    with pytest.raises(AssertionError, match="never declared"):
        test_launch_file_is_consistent(bad)


@pytest.mark.parametrize("name", ["franka", "youbot", "sim_franka", "sim_youbot"])
def test_config_files_validate_against_node_parameters(name: str) -> None:
    nodes = check_params_file(ROOT / "config" / f"{name}.yaml")
    # a simulated cell: the simulator node is its camera (and its robot)
    camera = "sim_node" if name.startswith("sim_") else "camera_node"
    assert set(nodes) == {camera, "detector_node", "grasp_planner_node"}


def test_bad_config_is_refused_naming_the_parameter(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "camera_node:\n  ros__parameters:\n    fps: 500.0\n    source: kinect\n"
        "grasp_planner_node:\n  ros__parameters:\n    target_object: Banana\n"
    )
    with pytest.raises(ValueError) as err:
        check_params_file(bad)
    msg = str(err.value)
    assert "'fps' = 500.0 is outside" in msg and "'source' = 'kinect'" in msg and "Banana" in msg
    with pytest.raises(ValueError, match="ros__parameters"):
        (tmp_path / "x.yaml").write_text("camera_node: {fps: 3}\n")
        read_params_file(tmp_path / "x.yaml")


def test_launch_is_imported_only_by_launch_files() -> None:
    offenders = []
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            if any(m.split(".")[0] in ("launch", "launch_ros") for m in mods):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_launch_parser_catches_a_bad_include(tmp_path: Path) -> None:
    """An include of a missing file, or with an argument the included file never declares, fails."""
    cell = (ROOT / "launch" / "cell.launch.py").read_text()
    (tmp_path / "cell.launch.py").write_text(cell)
    wrapper = (ROOT / "launch" / "franka.launch.py").read_text()
    bad_arg = tmp_path / "a.launch.py"
    bad_arg.write_text(wrapper.replace('"config": CONFIG', '"configuration": CONFIG'))
    with pytest.raises(AssertionError, match="declares no argument 'configuration'"):
        test_launch_file_is_consistent(bad_arg)
    missing = tmp_path / "b.launch.py"
    missing.write_text(wrapper.replace('"cell.launch.py"', '"nowhere.launch.py"'))
    with pytest.raises(AssertionError, match=r"launch/nowhere.launch.py does not exist"):
        test_launch_file_is_consistent(missing)


def _declared(path: Path) -> dict[str, ast.Call]:
    calls = _calls(ast.parse(path.read_text()), "DeclareLaunchArgument")
    return {_str(c.args[0]): c for c in calls}


def _literal(call: ast.Call, kw: str):
    node = _kw(call, kw)
    return None if node is None else ast.literal_eval(node)


@pytest.mark.parametrize("name", ["franka", "youbot"])
def test_robot_launch_files_declare_and_pass_on_every_cell_argument(name: str) -> None:
    """``ros2 launch grasp_pipeline franka.launch.py --show-args`` lists every argument the cell
    takes (detector, model_path, execution ...), each described, and each reaches cell.launch.py."""
    path = ROOT / "launch" / f"{name}.launch.py"
    cell = _declared(ROOT / "launch" / "cell.launch.py")
    mine = _declared(path)
    (include,) = _calls(ast.parse(path.read_text()), "IncludeLaunchDescription")
    mapping = _kw(include, "launch_arguments").func.value  # {...}.items()
    passed = {_str(k): v for k, v in zip(mapping.keys, mapping.values, strict=True)}
    assert set(passed) == set(cell), f"{name}: passes {sorted(passed)}, cell takes {sorted(cell)}"
    assert _str(passed["config"]) is None and isinstance(passed["config"], ast.Name)
    assert set(mine) == set(cell) - {"config"}, f"{name}: declares {sorted(mine)}"
    for arg, call in mine.items():
        value = passed[arg]
        assert isinstance(value, ast.Call) and _str(value.args[0]) == arg, (
            f"{name}: {arg} is not passed on as LaunchConfiguration({arg!r})"
        )
        for kw in ("default_value", "choices", "description"):
            assert _literal(call, kw) == _literal(cell[arg], kw), f"{name}: {arg}.{kw} differs"


def test_launch_argument_choices_are_the_node_parameter_choices() -> None:
    """A launch argument offers exactly the values the node parameter accepts ('' = the file's)."""
    from grasp_pipeline.ros.detector_node import PARAMS as DETECTOR
    from grasp_pipeline.ros.grasp_planner_node import PARAMS as PLANNER

    node_choices = {p.name: p.choices for p in (*DETECTOR, *PLANNER) if p.choices}
    for path in (ROOT / "launch" / "cell.launch.py", ROOT / "launch" / "franka.launch.py"):
        for arg in ("detector", "execution"):
            offered = _literal(_declared(path)[arg], "choices")
            assert sorted(offered) == sorted(["", *node_choices[arg]]), (path.name, arg, offered)


@pytest.mark.parametrize("name", ["cell", "sim_cell"])
def test_every_node_ends_the_launch_when_it_exits(name: str) -> None:
    """A node that dies (a bad parameter, a missing model) takes the launch down with a reason,
    instead of leaving the others running without it."""
    tree = ast.parse((ROOT / "launch" / f"{name}.launch.py").read_text())
    nodes = [c for c in _calls(tree, "Node") if _str(_kw(c, "package")) == "grasp_pipeline"]
    assert nodes
    for call in nodes:
        on_exit = _kw(call, "on_exit")
        exe = _str(_kw(call, "executable"))
        assert isinstance(on_exit, ast.Call), f"{name}: {exe} has no on_exit"
        assert _str(on_exit.args[0]) == exe, f"{name}: {exe}'s on_exit names another node"
    (handler,) = (
        f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "on_exit"
    )
    made = {getattr(c.func, "id", None) for c in ast.walk(handler) if isinstance(c, ast.Call)}
    assert {"Shutdown", "LogInfo"} <= made
