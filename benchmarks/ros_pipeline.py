"""Camera -> detections latency and the rate the detector keeps up with, over real DDS.

camera_node and detector_node run as two processes (the shipped Fast DDS SHM profile, localhost
discovery); camera_node publishes 640x480 RGB-D at 30 Hz (the simulator's camera repeating one
render, so the camera side costs only conversion + publishing); detector_node runs the chosen
detector (default: the node's own default, the parts detector) on the newest frame set. A probe
process-local node counts the frame sets sent (camera_info, a small message) and receives the
detections. Latency = detections arrival - frame stamp (the camera
stamps with its clock at publish time; both processes share the system clock).

The detector process's resident memory (with its children) is sampled every few seconds; a long
run is the soak test (``--seconds 600 --out benchmarks/results/soak.json``: memory must stay flat).

Model: the detector's shipped model (``ros.detector_loading.SHIPPED_MODELS``); for segnet, when
its model is absent, an untrained network of the default (paper-size) SegNetConfig - the weights
do not change its cost. Output: benchmarks/results/ros_pipeline.json (+ .png).

    grasp-pipeline benchmark ros-pipeline [--detector parts] [--seconds 20] [--fps 30]
    python benchmarks/ros_pipeline.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _model(detector: str, path: str | None, tmp: Path) -> tuple[Path, str]:
    from grasp_pipeline.ros.detector_loading import model_or_shipped

    if path:
        return Path(path), "given"
    shipped = ROOT / model_or_shipped(detector, "")
    if shipped.exists() or detector != "segnet":
        return shipped, f"shipped {shipped.relative_to(ROOT)}"
    import torch

    from grasp_pipeline.perception.segnet.config import SegNetConfig
    from grasp_pipeline.perception.segnet.model import SegNet
    from grasp_pipeline.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = SegNetConfig()
    out = tmp / "segnet_untrained.pt"
    save_checkpoint(
        out, {"model": SegNet(cfg).state_dict(), "config": {"model": cfg.to_dict()}, "step": 0}
    )
    return (
        out,
        f"untrained default SegNetConfig {cfg.width}x{cfg.height} filters {list(cfg.filters)}",
    )


def _rss_mb(pid: int) -> float:
    """Resident memory (MB) of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total_kb, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
        todo += children.get(p, [])
    return total_kb / 1024.0


def main(
    seconds: float = 20.0,
    fps: float = 30.0,
    model: str | None = None,
    out: str | None = None,
    detector: str = "parts",
    rss_every_s: float = 5.0,
) -> int:
    from grasp_pipeline.ros.environment import apply_ros_env, claim_domain_id

    domain = claim_domain_id()  # from ROS_DOMAIN_ID (default 42): one no other process here holds
    apply_ros_env(domain)
    import vision_msgs.msg as vm
    from sensor_msgs.msg import CameraInfo
    from tqdm import tqdm

    from grasp_pipeline.ros.node_process import NodeProcess, Probe
    from grasp_pipeline.ros.qos import RESULTS, SENSOR
    from grasp_pipeline.runinfo import machine

    out_path = Path(out) if out else ROOT / "benchmarks" / "results" / "ros_pipeline.json"
    ns = f"/bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        model_path, model_desc = _model(detector, model, Path(tmp))
        cam_params = {
            "source": "sim",
            "width": 640,
            "height": 480,
            "fps": float(fps),
            "sim_rerender": False,
            "sim_noise": False,
            "sim_n_objects": 3,
        }
        det_params = {
            "detector": detector,
            "model_path": str(model_path),
            "min_score": 0.0,
            "debug_image": False,
        }
        sent: list[int] = []
        processed: list[int] = []  # frame stamps of the detections
        lat_ms: list[float] = []
        arrivals: list[float] = []
        rss: list[tuple[float, float]] = []  # (seconds since start, detector MB)
        with Probe(domain, "bench_probe") as probe:

            def on_info(m) -> None:
                sent.append(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)

            def on_dets(m) -> None:
                now = time.time_ns()
                stamp = m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
                arrivals.append(now / 1e9)
                processed.append(stamp)
                lat_ms.append((now - stamp) / 1e6)

            probe.node.create_subscription(
                CameraInfo, f"{ns}/camera/color/camera_info", on_info, SENSOR
            )
            probe.node.create_subscription(
                vm.Detection3DArray, f"{ns}/detections", on_dets, RESULTS
            )
            with (
                NodeProcess("detector_node", det_params, domain, ns) as det,
                NodeProcess("camera_node", cam_params, domain, ns) as cam,
            ):
                # warm-up: both nodes up and the first detections through
                if not probe.spin_until(lambda: len(lat_ms) >= 3, 120, watch=det):
                    raise RuntimeError(
                        f"no detections during warm-up\ncamera:\n{cam.log}\ndetector:\n{det.log}"
                    )
                sent.clear()
                processed.clear()
                lat_ms.clear()
                arrivals.clear()
                t0 = time.monotonic()
                with tqdm(
                    total=int(seconds), desc="ros pipeline", unit="s", mininterval=1.0
                ) as bar:
                    while (el := time.monotonic() - t0) < seconds:
                        if not rss or el - rss[-1][0] >= rss_every_s:
                            rss.append((el, _rss_mb(det.proc.pid)))
                        probe.spin_until(lambda: False, 0.2)
                        bar.n = int(el)
                        bar.refresh()
                duration = time.monotonic() - t0
                rss.append((duration, _rss_mb(det.proc.pid)))
    lat = np.array(lat_ms)
    # The probe hears camera_info best-effort and, on a loaded 2-core machine, misses some; every
    # frame with detections was sent, so the frames sent are the union of both stamp sets.
    sent_stamps = set(sent) | set(processed)
    result = {
        "description": f"camera_node -> detector_node ({detector}) over Fast DDS SHM, two processes, "
        "640x480 RGB-D",
        "detector": detector,
        "model": model_desc,
        "camera_fps_requested": fps,
        "duration_s": round(duration, 2),
        "frames_sent": len(sent_stamps),
        "frames_processed": len(lat_ms),
        "frames_dropped": len(sent_stamps) - len(set(processed)),
        "camera_info_heard_by_probe": len(sent),
        "camera_hz": round(len(sent_stamps) / duration, 2),
        "detector_hz": round(len(lat_ms) / duration, 2),
        "latency_ms_median": round(float(np.median(lat)), 2),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 2),
        "latency_ms_max": round(float(lat.max()), 2),
        "rss_start_mb": round(rss[0][1], 1),
        "rss_end_mb": round(rss[-1][1], 1),
        "rss_max_mb": round(max(m for _, m in rss), 1),
        "rss_growth": round(rss[-1][1] / rss[0][1] - 1.0, 4),
        "rss_samples": [[round(t, 1), round(m, 1)] for t, m in rss],
        "machine": {**machine(), "loadavg_1min_at_end": round(os.getloadavg()[0], 2)},
        "command": "grasp-pipeline benchmark ros-pipeline"
        + (f" --seconds {seconds:g} --out {out}" if out else f" --seconds {seconds:g}"),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    _plot(out_path.with_suffix(".png"), lat, np.array(arrivals), result, np.array(rss))
    print(json.dumps(result, indent=2))
    return 0


def _plot(path: Path, lat: np.ndarray, arrivals: np.ndarray, r: dict, rss: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 3.6))
    a.hist(lat, bins=40, color="tab:blue")
    a.axvline(
        r["latency_ms_median"], color="k", ls="--", label=f"median {r['latency_ms_median']} ms"
    )
    a.axvline(r["latency_ms_p95"], color="r", ls=":", label=f"p95 {r['latency_ms_p95']} ms")
    a.set_xlabel("camera stamp -> detections received (ms)")
    a.set_ylabel("frame sets")
    a.legend()
    if arrivals.size:
        t = arrivals - arrivals[0]
        edges = np.arange(0, max(np.floor(t.max()), 1.0) + 1e-9, 1.0)  # whole seconds only
        counts, _ = np.histogram(t, edges)
        b.step(edges[:-1], counts, where="post", label="detector (Hz)")
        b.axhline(r["camera_hz"], color="gray", ls="--", label=f"camera {r['camera_hz']} Hz")
    b.set_xlabel("time (s)")
    b.set_ylabel("frame sets per second")
    b.legend()
    c.plot(rss[:, 0], rss[:, 1], marker=".", color="tab:green")
    c.set_ylim(0, rss[:, 1].max() * 1.2)
    c.set_xlabel("time (s)")
    c.set_ylabel("detector resident memory (MB)")
    fig.suptitle(f"ROS pipeline 640x480 RGB-D: {r['model']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
