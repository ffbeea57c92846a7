"""Static checks of launch/*.launch.py (the launch system is not installed here; the files were run
with the real one locally, see tests/test_colcon_install.py for the installed nodes): executables
exist among the console scripts, config files exist, every LaunchConfiguration is declared with a
description, wrappers declare and pass on every argument of the file they include, required nodes
end the launch when they exit; and the config YAMLs validate against the nodes' parameters.

The arguments are declared in grasp_pipeline.ros.launch_description (one spec each); a launch file
declares the argument sets it hands to that module's ``declare`` or ``wrapper_description``. Where
the launch system is importable (a ROS install, or launch / launch_ros from source on PYTHONPATH)
the files are also loaded with it and what they declare is compared with those specs."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from grasp_pipeline.ros import launch_description
from grasp_pipeline.ros.config_file import check_params_file, read_params_file
from grasp_pipeline.ros.launch_description import LaunchArgument

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
EXPECTED = {"franka", "youbot", "camera", "sim_franka", "sim_youbot", "cell", "sim_cell"}
HAS_LAUNCH = importlib.util.find_spec("launch_ros") is not None
needs_launch = pytest.mark.skipif(
    not HAS_LAUNCH, reason="the ROS 2 launch system is not installed here"
)
# launch_description's functions that declare an argument set -> position of that set in the call
DECLARING = {"declare": 0, "wrapper_description": 2}
# franka.launch.py's arguments (name, default) as the file declared them itself, in its order
FRANKA_ARGUMENTS = [
    ("namespace", ""),
    ("target_object", ""),
    ("use_realsense_driver", "false"),
    ("detector", ""),
    ("model_path", ""),
    ("database_path", ""),
    ("execution", ""),
]


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


def declared_arguments(tree: ast.Module) -> dict[str, LaunchArgument]:
    """The arguments a launch file declares, in order: the argument sets of
    grasp_pipeline.ros.launch_description it hands to ``declare`` / ``wrapper_description``."""
    imported = {
        a.asname or a.name
        for n in tree.body
        if isinstance(n, ast.ImportFrom) and n.module == launch_description.__name__
        for a in n.names
    }
    out: dict[str, LaunchArgument] = {}
    for func, index in DECLARING.items():
        for call in _calls(tree, func):
            assert func in imported, f"{func} is not {launch_description.__name__}'s"
            name = call.args[index]
            assert isinstance(name, ast.Name) and name.id in imported, (
                f"{func}({ast.unparse(name)}): not an argument set of {launch_description.__name__}"
            )
            for arg in getattr(launch_description, name.id):
                assert arg.name not in out, f"{arg.name} declared twice"
                out[arg.name] = arg
    return out


def _wrapped(tree: ast.Module) -> tuple[str, dict[str, ast.expr]] | None:
    """(included launch file, its fixed arguments) of a ``wrapper_description`` call, if any."""
    calls = _calls(tree, "wrapper_description")
    if not calls:
        return None
    (call,) = calls
    fixed = call.args[1]
    assert isinstance(fixed, ast.Dict), ast.unparse(fixed)
    return _str(call.args[0]), {_str(k): v for k, v in zip(fixed.keys, fixed.values, strict=True)}


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
    declared = declared_arguments(tree)
    assert not _calls(tree, "DeclareLaunchArgument"), (
        f"{path.name}: declare arguments in {launch_description.__name__}"
    )
    for name, arg in declared.items():
        assert arg.description, f"{path.name}: argument {name!r} has no description"
    read = [_str(c.args[0]) for c in _calls(tree, "LaunchConfiguration")]
    # cell.launch.py reads the optional overrides with _given(context, "name", ...)
    read += [_str(a) for c in _calls(tree, "_given") for a in c.args[1:]]
    for name in read:
        assert name in declared, f"{path.name}: LaunchConfiguration({name!r}) is never declared"
    # every yaml named (literal, a constant, or an argument default) exists in config/
    yamls = {v for v in consts.values() if isinstance(v, str) and v.endswith(".yaml")}
    yamls |= {a.default for a in declared.values() if a.default.endswith(".yaml")}
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
        inc_declared = declared_arguments(ast.parse(inc_path.read_text()))
        passed = []
        for call in _calls(tree, "IncludeLaunchDescription"):
            args = _kw(call, "launch_arguments")
            mapping = args.func.value if isinstance(args, ast.Call) else None
            if isinstance(mapping, ast.Dict):
                passed += map(_str, mapping.keys)
        if (wrapped := _wrapped(tree)) and wrapped[0] == inc:
            passed += [*wrapped[1], *declared]  # fixed, then every declared one passed on
        for key in passed:
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
    """launch / launch_ros (a ROS install's, not on PyPI) are imported by launch files, and in the
    package only inside launch_description's functions, so ``import grasp_pipeline`` never needs
    them."""
    allowed = Path(launch_description.__file__).resolve()
    offenders = []
    for path in (ROOT / "src").rglob("*.py"):
        tree = ast.parse(path.read_text())
        top = set(tree.body)
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            launch = any(m.split(".")[0] in ("launch", "launch_ros") for m in mods)
            if launch and (path.resolve() != allowed or node in top):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_launch_description_imports_without_the_launch_system() -> None:
    """Importing the package's launch module (what tests and tools read the specs from) does not
    import launch: a fresh interpreter without it on the path imports it and reads the specs."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['launch'] = sys.modules['launch_ros'] = None  # any import of them fails\n"
        "from grasp_pipeline.ros import launch_description as ld\n"
        "print(len(ld.CELL_ARGUMENTS), ld.EXECUTION.choices)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["8", "('',", "'moveit',", "'kinematic',", "'sim')"]


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


def _declared(path: Path) -> dict[str, LaunchArgument]:
    return declared_arguments(ast.parse(path.read_text()))


@pytest.mark.parametrize(
    ("name", "included", "own"),
    [
        ("franka", "cell", "config"),
        ("youbot", "cell", "config"),
        ("sim_franka", "sim_cell", "robot"),
        ("sim_youbot", "sim_cell", "robot"),
    ],
)
def test_wrappers_declare_and_pass_on_every_argument_of_the_file_they_include(
    name: str, included: str, own: str
) -> None:
    """``ros2 launch grasp_pipeline franka.launch.py --show-args`` lists every argument the cell
    takes (detector, model_path, execution ...) with the cell's default, description and choices,
    and each reaches cell.launch.py; the wrapper fixes only its own (the parameter file / robot)."""
    path = ROOT / "launch" / f"{name}.launch.py"
    tree = ast.parse(path.read_text())
    theirs = _declared(ROOT / "launch" / f"{included}.launch.py")
    mine = _declared(path)
    inc, fixed = _wrapped(tree)
    assert inc == f"{included}.launch.py"
    assert list(fixed) == [own] and isinstance(fixed[own], ast.Name), ast.unparse(fixed[own])
    assert list(mine) == [a for a in theirs if a != own], f"{name}: declares {list(mine)}"
    for arg, spec in mine.items():
        assert spec == theirs[arg], f"{name}: {arg} differs from {included}.launch.py's"
    consts = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
    }
    expected = f"{name}.yaml" if own == "config" else name.removeprefix("sim_")
    assert consts[fixed[own].id] == expected


def test_franka_declares_what_it_always_declared() -> None:
    """The arguments (names, defaults, order) franka.launch.py declared itself before the specs
    moved to grasp_pipeline.ros.launch_description."""
    declared = _declared(ROOT / "launch" / "franka.launch.py")
    assert [(a.name, a.default) for a in declared.values()] == FRANKA_ARGUMENTS


def test_sim_cell_robot_choices_are_its_robots() -> None:
    """sim_cell.launch.py's robot:= offers exactly the robots it has a spec for."""
    tree = ast.parse((ROOT / "launch" / "sim_cell.launch.py").read_text())
    (robots,) = (
        n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ROBOTS"
    )
    assert _declared(ROOT / "launch" / "sim_cell.launch.py")["robot"].choices == tuple(
        sorted(ast.literal_eval(robots))
    )


def test_launch_argument_choices_are_the_node_parameter_choices() -> None:
    """A launch argument offers exactly the values the node parameter accepts ('' = the file's)."""
    from grasp_pipeline.ros.detector_node import PARAMS as DETECTOR
    from grasp_pipeline.ros.grasp_planner_node import PARAMS as PLANNER

    node_choices = {p.name: p.choices for p in (*DETECTOR, *PLANNER) if p.choices}
    for name in ("cell", "franka", "youbot", "franka_moveit"):
        declared = _declared(ROOT / "launch" / f"{name}.launch.py")
        for arg in ("detector", "execution"):
            if arg not in declared:  # franka_moveit fixes execution: moveit
                continue
            offered = declared[arg].choices
            assert sorted(offered) == sorted(["", *node_choices[arg]]), (name, arg, offered)


@pytest.mark.parametrize("name", ["cell", "sim_cell", "franka_moveit"])
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
        assert ast.unparse(on_exit) == f"end_launch_on_exit('{exe}')", (
            f"{name}: {exe}'s on_exit is {ast.unparse(on_exit)}"
        )
    assert "end_launch_on_exit" in {
        a.name
        for n in tree.body
        if isinstance(n, ast.ImportFrom) and n.module == launch_description.__name__
        for a in n.names
    }
    module = ast.parse(Path(launch_description.__file__).read_text())
    (handler,) = (
        f for f in ast.walk(module) if isinstance(f, ast.FunctionDef) and f.name == "on_exit"
    )
    made = {getattr(c.func, "id", None) for c in ast.walk(handler) if isinstance(c, ast.Call)}
    assert {"Shutdown", "LogInfo"} <= made


@needs_launch
def test_required_process_exit_ends_the_launch_naming_it() -> None:
    from launch import LaunchContext
    from launch.actions import LogInfo, Shutdown
    from launch.events.process import ProcessExited

    from grasp_pipeline.ros.launch_description import end_launch_on_exit

    handler = end_launch_on_exit("detector_node")
    event = ProcessExited(
        returncode=3, action=None, name="detector_node-1", cmd=["x"], cwd=None, env=None, pid=1
    )
    context = LaunchContext()
    log, shutdown = handler(event, context)
    assert isinstance(log, LogInfo) and isinstance(shutdown, Shutdown)
    (msg,) = log.msg
    assert msg.perform(context) == (
        "detector_node exited with code 3; it is required, so the launch ends "
        "(its log above says why)"
    )
    context._set_is_shutdown(True)  # Ctrl-C or another node's exit: already ending
    assert handler(event, context) is None


def _load(path: Path):
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    return PythonLaunchDescriptionSource(str(path)).try_get_launch_description_without_context()


@needs_launch
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_real_launch_system_declares_the_specs(path: Path) -> None:
    """Loaded with the launch system, each file declares its argument sets' arguments (name,
    default, description, choices) in order; a wrapper includes its file with every one of them
    passed on as LaunchConfiguration(name) after its fixed ones."""
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
    from launch.substitutions import LaunchConfiguration
    from launch.utilities import normalize_to_list_of_substitutions, perform_substitutions

    context = LaunchContext()
    ld = _load(path)
    declared = [e for e in ld.entities if isinstance(e, DeclareLaunchArgument)]
    specs = list(_declared(path).values())
    assert [d.name for d in declared] == [a.name for a in specs]
    for d, a in zip(declared, specs, strict=True):
        assert perform_substitutions(context, d.default_value) == a.default, a.name
        assert d.choices == (None if a.choices is None else list(a.choices)), a.name
        assert d.description.startswith(a.description), a.name
        assert (d.description == a.description) == (a.choices is None), d.description
    if path.name == "franka.launch.py":
        got = [(d.name, perform_substitutions(context, d.default_value)) for d in declared]
        assert got == FRANKA_ARGUMENTS
    wrapped = _wrapped(ast.parse(path.read_text()))
    if wrapped:
        (include,) = (e for e in ld.entities if isinstance(e, IncludeLaunchDescription))
        passed = [
            (perform_substitutions(context, normalize_to_list_of_substitutions(k)), v)
            for k, v in include.launch_arguments
        ]
        assert [k for k, _ in passed] == [*wrapped[1], *(a.name for a in specs)]
        for name, value in passed[len(wrapped[1]) :]:
            assert isinstance(value, LaunchConfiguration), (name, value)
            assert perform_substitutions(context, value.variable_name) == name
