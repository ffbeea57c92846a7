"""SDF 1.9 for gz sim: one model per catalog object and a RoboCup@Work service-area world.

Geometry follows the catalog's object frame (origin at the bounding-box centre, x along the
dominant axis, z up when resting) and is the simulator's own: the boxes and cylinders of
:func:`grasp_pipeline.part_solids.object_parts` (holes, slots and jaws included), so PyBullet and
Gazebo see the same solids. Mass and friction come from the catalog, the centre of mass and
inertia from :func:`grasp_pipeline.objects.mass_properties`. The world also holds the red and blue
containers. Built with xml.etree, so the output is always well-formed.
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

from grasp_pipeline.objects import Catalog, ContainerSpec, ObjectSpec, load_catalog

SDF_VERSION = "1.9"
TABLE_SIZE = (0.8, 0.6)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _f(*vals: float) -> str:
    return " ".join(f"{v:.9g}" for v in vals)


def _geometry(parent: ET.Element, kind: str, dims: tuple[float, ...]) -> None:
    g = _sub(_sub(parent, "geometry"), kind)
    if kind == "box":
        _sub(g, "size", _f(*dims))
    else:
        _sub(g, "radius", _f(dims[0]))
        _sub(g, "length", _f(dims[1]))


def _part(link: ET.Element, name: str, kind: str, dims, pose, color, mu: float) -> None:
    """One collision + visual pair at ``pose`` (x y z roll pitch yaw) in the link frame."""
    col = _sub(link, "collision", name=f"{name}_collision")
    _sub(col, "pose", _f(*pose))
    _geometry(col, kind, dims)
    ode = _sub(_sub(_sub(col, "surface"), "friction"), "ode")
    _sub(ode, "mu", _f(mu))
    _sub(ode, "mu2", _f(mu))
    vis = _sub(link, "visual", name=f"{name}_visual")
    _sub(vis, "pose", _f(*pose))
    _geometry(vis, kind, dims)
    mat = _sub(vis, "material")
    _sub(mat, "ambient", _f(*color, 1.0))
    _sub(mat, "diffuse", _f(*color, 1.0))


def _parts(spec: ObjectSpec) -> list[tuple[str, str, tuple, tuple]]:
    """(name, kind, dims, pose x y z roll pitch yaw) of the object's primitives in its frame."""
    from scipy.spatial.transform import Rotation

    from grasp_pipeline.part_solids import object_parts

    out = []
    for k, q in enumerate(object_parts(spec)):
        with warnings.catch_warnings():  # a pitch of +-90 deg (parts along x) is gimbal lock
            warnings.simplefilter("ignore", UserWarning)
            rpy = tuple(float(a) for a in Rotation.from_quat(q.quat).as_euler("xyz"))
        # SDF rpy are fixed-axis x, y, z rotations: scipy's extrinsic "xyz"
        box = tuple(2.0 * h for h in q.half_extents)
        dims = box if q.kind == "box" else (q.radius, q.length)
        out.append((f"part{k}", q.kind, dims, (*q.position, *rpy)))
    return out


def object_model(spec: ObjectSpec) -> ET.Element:
    """``<model>`` of one catalog object (a single dynamic link)."""
    from grasp_pipeline.objects import mass_properties

    model = ET.Element("model", name=spec.name)
    link = _sub(model, "link", name="link")
    inertial = _sub(link, "inertial")
    com, inertia_m = mass_properties(spec)
    _sub(inertial, "pose", _f(*com, 0, 0, 0))
    _sub(inertial, "mass", _f(spec.mass))
    inertia = _sub(inertial, "inertia")
    for tag, val in (
        ("ixx", inertia_m[0, 0]),
        ("iyy", inertia_m[1, 1]),
        ("izz", inertia_m[2, 2]),
        ("ixy", inertia_m[0, 1]),
        ("ixz", inertia_m[0, 2]),
        ("iyz", inertia_m[1, 2]),
    ):
        _sub(inertia, tag, _f(val))
    for name, kind, dims, pose in _parts(spec):
        _part(link, name, kind, dims, pose, spec.color, spec.friction)
    return model


def _sdf(child: ET.Element) -> ET.ElementTree:
    root = ET.Element("sdf", version=SDF_VERSION)
    root.append(child)
    ET.indent(root)
    return ET.ElementTree(root)


def world(catalog: Catalog | None = None, surface_height: float = 0.10) -> ET.Element:
    """``<world>``: physics, light, ground, the service area and every catalog object on it (a
    row along y, resting poses), plus the gz sim systems the camera bridge needs."""
    catalog = catalog or load_catalog()
    if not 0.0 <= surface_height <= 1.5:
        raise ValueError(f"surface_height must be in [0, 1.5] m, got {surface_height}")
    w = ET.Element("world", name="robocup_at_work")
    _sub(_sub(w, "physics", name="1ms", type="ignored"), "max_step_size", "0.001")
    for plugin, name in (
        ("gz-sim-physics-system", "gz::sim::systems::Physics"),
        ("gz-sim-sensors-system", "gz::sim::systems::Sensors"),
        ("gz-sim-scene-broadcaster-system", "gz::sim::systems::SceneBroadcaster"),
        ("gz-sim-user-commands-system", "gz::sim::systems::UserCommands"),
    ):
        p = _sub(w, "plugin", filename=plugin, name=name)
        if plugin == "gz-sim-sensors-system":
            _sub(p, "render_engine", "ogre2")
    light = _sub(w, "light", type="directional", name="sun")
    _sub(light, "pose", _f(0, 0, 3, 0, 0, 0))
    _sub(light, "direction", _f(-0.3, 0.2, -0.9))
    _sub(light, "diffuse", _f(0.9, 0.9, 0.9, 1))
    ground = _sub(w, "model", name="ground_plane")
    _sub(ground, "static", "true")
    gl = _sub(ground, "link", name="link")
    for tag in ("collision", "visual"):
        el = _sub(gl, tag, name=tag)
        plane = _sub(_sub(el, "geometry"), "plane")
        _sub(plane, "normal", "0 0 1")
        _sub(plane, "size", "10 10")
    table = _sub(w, "model", name="service_area")
    _sub(table, "static", "true")
    thickness = max(surface_height, 0.002)
    _sub(table, "pose", _f(0, 0, surface_height - thickness / 2, 0, 0, 0))
    tl = _sub(table, "link", name="link")
    _part(tl, "top", "box", (*TABLE_SIZE, thickness), (0, 0, 0, 0, 0, 0), (0.85, 0.85, 0.8), 0.8)
    cam = rgbd_camera()
    pose = cam.find("pose")
    pose.text = _f(0, 0, surface_height + 0.55, 0, math.pi / 2, 0)
    w.append(cam)
    for name, (x, y) in layout(catalog).items():
        inc = _sub(w, "include")
        _sub(inc, "uri", f"model://{name}")
        _sub(inc, "name", name)
        if name in catalog:
            z = surface_height + catalog[name].half_height + 0.001
        else:
            z = surface_height + catalog.container(name).outer[2] / 2
        _sub(inc, "pose", _f(x, y, z, 0, 0, 0))
    return w


def layout(catalog: Catalog, gap: float = 0.02) -> dict[str, tuple[float, float]]:
    """(x, y) of every object (axis-aligned, resting) and container on the service area: rows
    along x, ``gap`` metres apart; raises ValueError when they do not fit on ``TABLE_SIZE``."""
    items = [(s.name, s.size[0], s.size[1]) for s in catalog]
    items += [(c.name, c.outer[0], c.outer[1]) for c in catalog.containers]
    half_x, half_y = TABLE_SIZE[0] / 2, TABLE_SIZE[1] / 2
    out: dict[str, tuple[float, float]] = {}
    x, y, row = -half_x + gap, -half_y + gap, 0.0
    for name, sx, sy in items:
        if x + sx > half_x - gap:
            x, y, row = -half_x + gap, y + row + gap, 0.0
        row = max(row, sy)
        out[name] = (x + sx / 2, y + sy / 2)
        x += sx + gap
    if y + row > half_y - gap:
        raise ValueError(f"{len(items)} catalog items do not fit on the {TABLE_SIZE} m surface")
    return out


def rgbd_camera(
    name: str = "camera",
    height_m: float = 0.55,
    width: int = 640,
    height: int = 480,
    hfov_rad: float = 1.2113,
) -> ET.Element:
    """A static RGB-D camera ``height_m`` above the surface centre looking straight down.

    gz publishes ``<name>/image``, ``<name>/depth_image`` (32FC1 metres) and ``<name>/camera_info``;
    ros_gz_bridge maps them onto the realsense2_camera topic names (see sim_*.launch.py).
    The default horizontal FOV is the D435 colour stream's 69.4 deg.
    """
    m = ET.Element("model", name=name)
    _sub(m, "static", "true")
    # gz cameras look along their link's +x; pitch +90 deg turns +x to -z (down)
    _sub(m, "pose", _f(0, 0, height_m, 0, math.pi / 2, 0))
    link = _sub(m, "link", name="link")
    sensor = _sub(link, "sensor", name="rgbd", type="rgbd_camera")
    _sub(sensor, "topic", name)
    _sub(sensor, "update_rate", "30")
    _sub(sensor, "always_on", "1")
    cam = _sub(sensor, "camera")
    _sub(cam, "horizontal_fov", _f(hfov_rad))
    img = _sub(cam, "image")
    _sub(img, "width", str(width))
    _sub(img, "height", str(height))
    _sub(img, "format", "R8G8B8")
    clip = _sub(cam, "clip")
    _sub(clip, "near", "0.105")
    _sub(clip, "far", "10")
    return m


def container_model(spec: ContainerSpec) -> ET.Element:
    """``<model>`` of a container: a static open box (floor and four walls)."""
    lx, ly, lz = spec.outer
    t = spec.wall
    model = ET.Element("model", name=spec.name)
    _sub(model, "static", "true")
    link = _sub(model, "link", name="link")
    walls = (
        ("floor", (lx, ly, t), (0, 0, -lz / 2 + t / 2)),
        ("wall_x0", (t, ly, lz), (-lx / 2 + t / 2, 0, 0)),
        ("wall_x1", (t, ly, lz), (lx / 2 - t / 2, 0, 0)),
        ("wall_y0", (lx, t, lz), (0, -ly / 2 + t / 2, 0)),
        ("wall_y1", (lx, t, lz), (0, ly / 2 - t / 2, 0)),
    )
    for name, dims, xyz in walls:
        _part(link, name, "box", dims, (*xyz, 0, 0, 0), spec.color, 0.6)
    return model


def model_config(spec: ObjectSpec | ContainerSpec) -> ET.Element:
    cfg = ET.Element("model")
    _sub(cfg, "name", spec.name)
    _sub(cfg, "version", "1.0")
    _sub(cfg, "sdf", "model.sdf", version=SDF_VERSION)
    shape = getattr(spec, "shape", "container")
    _sub(cfg, "description", f"RoboCup@Work {spec.name} ({shape}, {spec.mass * 1000:.0f} g)")
    return cfg


def write_world(
    out: str | Path, catalog: Catalog | None = None, surface_height: float = 0.10
) -> dict:
    """Write ``out/world.sdf`` and ``out/models/<name>/{model.sdf,model.config}``.

    Every catalog object and container gets a model. Add ``out/models`` to
    ``GZ_SIM_RESOURCE_PATH`` so ``model://<name>`` resolves.
    Returns ``{"world": path, "models": [paths]}``.
    """
    catalog = catalog or load_catalog()
    out = Path(out)
    models = []
    specs = [*catalog, *catalog.containers]
    for spec in specs:
        d = out / "models" / spec.name
        d.mkdir(parents=True, exist_ok=True)
        model = object_model(spec) if spec.name in catalog else container_model(spec)
        _sdf(model).write(d / "model.sdf", encoding="unicode", xml_declaration=True)
        cfg = model_config(spec)
        ET.indent(cfg)
        ET.ElementTree(cfg).write(d / "model.config", encoding="unicode", xml_declaration=True)
        models.append(d / "model.sdf")
    path = out / "world.sdf"
    _sdf(world(catalog, surface_height)).write(path, encoding="unicode", xml_declaration=True)
    return {"world": path, "models": models}
