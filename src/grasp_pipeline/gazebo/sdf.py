"""SDF 1.9 for gz sim: one model per catalog object and a RoboCup@Work service-area world.

Geometry follows the catalog's object frame (origin at the bounding-box centre, x along the
dominant axis, z up when resting): boxes are boxes, cylinders and nuts are cylinders (a nut's
hexagon as its circumscribed cylinder), rings/tubes are 12 box staves around their axis so the
hole is real, a screw is a shaft plus a head. Mass and friction come from the catalog; inertia is
that of the bounding box (good enough for contact dynamics, exact for boxes). Built with
xml.etree, so the output is always well-formed.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from grasp_pipeline.objects import Catalog, ObjectSpec, load_catalog

SDF_VERSION = "1.9"
TABLE_SIZE = (0.8, 0.6)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _f(*vals: float) -> str:
    return " ".join(f"{v:.6g}" for v in vals)


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
    """(name, kind, dims, pose) primitives approximating the object in its frame."""
    d, (sx, sy, sz) = spec.dims, spec.size
    axis_rot = (0.0, math.pi / 2, 0.0) if spec.symmetry_axis == "x" else (0.0, 0.0, 0.0)
    if spec.shape == "box":
        return [("body", "box", (sx, sy, sz), (0, 0, 0, 0, 0, 0))]
    if spec.shape == "cylinder":
        return [("body", "cylinder", (d["diameter"] / 2, d["length"]), (0, 0, 0, *axis_rot))]
    if spec.shape == "hex_nut":
        r = d["across_flats"] / math.sqrt(3)  # circumscribed radius of the hexagon
        return [("body", "cylinder", (r, d["height"]), (0, 0, 0, 0, 0, 0))]
    if spec.shape == "ring":
        ro, ri, length = d["outer_diameter"] / 2, d["inner_diameter"] / 2, d["length"]
        n, rm, wall = 12, (ro + ri) / 2, ro - ri
        chord = 2 * ro * math.tan(math.pi / n)
        out = []
        for k in range(n):
            a = 2 * math.pi * k / n
            if spec.symmetry_axis == "x":  # staves along x, arranged around x in the y-z plane
                pose = (0.0, rm * math.cos(a), rm * math.sin(a), a, 0.0, 0.0)
                dims = (length, wall, chord)
            else:
                pose = (rm * math.cos(a), rm * math.sin(a), 0.0, 0.0, 0.0, a)
                dims = (wall, chord, length)
            out.append((f"stave{k}", "box", dims, pose))
        return out
    if spec.shape == "screw":
        hh, L = d["head_height"], d["shaft_length"]
        x0 = -sx / 2
        head_r = d["head_across_flats"] / math.sqrt(3)
        return [
            ("head", "cylinder", (head_r, hh), (x0 + hh / 2, 0, 0, 0, math.pi / 2, 0)),
            (
                "shaft",
                "cylinder",
                (d["shaft_diameter"] / 2, L),
                (x0 + hh + L / 2, 0, 0, 0, math.pi / 2, 0),
            ),
        ]
    raise ValueError(f"object {spec.name}: no SDF geometry for shape {spec.shape!r}")


def object_model(spec: ObjectSpec) -> ET.Element:
    """``<model>`` of one catalog object (a single dynamic link)."""
    model = ET.Element("model", name=spec.name)
    link = _sub(model, "link", name="link")
    inertial = _sub(link, "inertial")
    _sub(inertial, "mass", _f(spec.mass))
    sx, sy, sz = spec.size
    m = spec.mass
    inertia = _sub(inertial, "inertia")
    for tag, val in (
        ("ixx", m * (sy**2 + sz**2) / 12),
        ("iyy", m * (sx**2 + sz**2) / 12),
        ("izz", m * (sx**2 + sy**2) / 12),
        ("ixy", 0.0),
        ("ixz", 0.0),
        ("iyz", 0.0),
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
    names = list(catalog.names)
    spacing = min(0.045, (TABLE_SIZE[1] - 0.1) / max(len(names) - 1, 1))
    for i, name in enumerate(names):
        spec = catalog[name]
        inc = _sub(w, "include")
        _sub(inc, "uri", f"model://{name}")
        _sub(inc, "name", name)
        y = -spacing * (len(names) - 1) / 2 + i * spacing
        x = 0.08 * (i % 2)  # two staggered rows so long parts don't touch
        _sub(inc, "pose", _f(x, y, surface_height + spec.half_height + 0.001, 0, 0, math.pi / 2))
    return w


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


def model_config(spec: ObjectSpec) -> ET.Element:
    cfg = ET.Element("model")
    _sub(cfg, "name", spec.name)
    _sub(cfg, "version", "1.0")
    _sub(cfg, "sdf", "model.sdf", version=SDF_VERSION)
    _sub(cfg, "description", f"RoboCup@Work {spec.name} ({spec.shape}, {spec.mass * 1000:.0f} g)")
    return cfg


def write_world(
    out: str | Path, catalog: Catalog | None = None, surface_height: float = 0.10
) -> dict:
    """Write ``out/world.sdf`` and ``out/models/<name>/{model.sdf,model.config}``.

    Add ``out/models`` to ``GZ_SIM_RESOURCE_PATH`` so ``model://<name>`` resolves.
    Returns ``{"world": path, "models": [paths]}``.
    """
    catalog = catalog or load_catalog()
    out = Path(out)
    models = []
    for name in catalog.names:
        d = out / "models" / name
        d.mkdir(parents=True, exist_ok=True)
        _sdf(object_model(catalog[name])).write(
            d / "model.sdf", encoding="unicode", xml_declaration=True
        )
        cfg = model_config(catalog[name])
        ET.indent(cfg)
        ET.ElementTree(cfg).write(d / "model.config", encoding="unicode", xml_declaration=True)
        models.append(d / "model.sdf")
    path = out / "world.sdf"
    _sdf(world(catalog, surface_height)).write(path, encoding="unicode", xml_declaration=True)
    return {"world": path, "models": models}
