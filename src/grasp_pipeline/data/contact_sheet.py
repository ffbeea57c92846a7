"""Contact sheet of dataset frames: colour with pickup points and axes, depth, instance masks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grasp_pipeline.data.format import read_frame


def write_contact_sheet(root: str | Path, frame_ids: Sequence[str], out_png: str | Path) -> Path:
    """Render one row per frame (colour + pickup points + dominant axes | depth | masks) to a PNG.

    Raises ValueError for an empty frame list; read errors name the bad file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from grasp_pipeline.geometry.camera import depth_to_metres, project

    if not frame_ids:
        raise ValueError("write_contact_sheet: no frames given")
    frames = [read_frame(root, fid) for fid in frame_ids]
    fig, axes = plt.subplots(len(frames), 3, figsize=(13, 3.4 * len(frames)), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for row, frame in zip(axes, frames, strict=True):
        cam = frame.camera
        row[0].imshow(frame.rgb)
        for o in frame.objects:
            u, v = o.pickup_pixel
            color = cmap((o.class_index - 1) % 20)
            row[0].plot(u, v, "o", ms=5, mec="k", mfc=color)
            if o.pickup_point is not None and o.axis_camera is not None:
                ends = o.pickup_point + np.outer([-1.0, 1.0], o.axis_camera) * 0.03
                if np.all(ends[:, 2] > 0):
                    uv = project(ends, cam)
                    row[0].plot(uv[:, 0], uv[:, 1], "-", color=color, lw=1.5)
            row[0].text(
                u + 4,
                v - 4,
                o.label,
                fontsize=6,
                color="w",
                bbox={"fc": "k", "alpha": 0.5, "pad": 1},
            )
        # axis lines may leave the image; keep the view on the image itself
        row[0].set_xlim(-0.5, cam.width - 0.5)
        row[0].set_ylim(cam.height - 0.5, -0.5)
        row[0].set_title(f"{frame.frame_id}: colour, pickup points, axes", fontsize=8)
        depth = depth_to_metres(frame.depth, cam)
        im = row[1].imshow(depth, cmap="viridis")
        fig.colorbar(im, ax=row[1], fraction=0.035, label="depth [m]")
        missing = 100.0 * np.mean(frame.depth == 0)
        row[1].set_title(f"depth ({missing:.1f}% missing, black = none)", fontsize=8)
        row[1].set_facecolor("k")
        overlay = np.zeros((*frame.instance_mask.shape, 3))
        for o in frame.objects:
            overlay[frame.instance_mask == o.instance_id] = cmap((o.class_index - 1) % 20)[:3]
        row[2].imshow(0.35 * frame.rgb / 255.0 + 0.65 * overlay)
        for o in frame.objects:
            row[2].plot(*o.pickup_pixel, "+", color="w", ms=7)
        row[2].set_title(
            f"instance masks ({len(frame.objects)} objects, colour = class)", fontsize=8
        )
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=75)
    plt.close(fig)
    return out
