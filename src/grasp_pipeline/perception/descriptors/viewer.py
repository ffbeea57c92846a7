"""Descriptor viewer: click a pixel in image A, see where its descriptor is in image B.

Interactive: a small local web page served by :mod:`http.server` on 127.0.0.1 (no external
assets). Non-interactive: :func:`write_heatmaps` renders the same overlays to PNG files.
Heatmaps are the kernel spatial probability of paper Eq. 8 (temperature t).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import torch

from grasp_pipeline.perception.descriptors.query import query_descriptors

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>descriptor viewer</title>
<style>body{font-family:sans-serif;margin:16px}img{border:1px solid #888;image-rendering:pixelated}
.row{display:flex;gap:16px;align-items:flex-start}#info{margin-top:8px}</style></head><body>
<h3>Dense descriptor viewer</h3><p>Click a pixel in image A (left); image B shows the heatmap of
its descriptor (kernel spatial expectation, temperature t = <span id="t">T</span>), + marks the
expected pixel.</p>
<div class="row"><div><div>image A</div><img id="a" src="/a.png" width="WA"></div>
<div><div>image B</div><img id="b" src="/b.png" width="WB"></div></div><div id="info"></div>
<script>
const a=document.getElementById('a'), b=document.getElementById('b'), info=document.getElementById('info');
a.addEventListener('click', e=>{const r=a.getBoundingClientRect();
 const u=Math.round((e.clientX-r.left)*a.naturalWidth/r.width), v=Math.round((e.clientY-r.top)*a.naturalHeight/r.height);
 b.src='/heatmap.png?u='+u+'&v='+v+'&r='+Math.random();
 a.src='/a.png?u='+u+'&v='+v;
 fetch('/query?u='+u+'&v='+v).then(r=>r.json()).then(j=>{info.textContent='A ('+u+', '+v+') -> B expected ('+
 j.uv[0].toFixed(1)+', '+j.uv[1].toFixed(1)+'), nearest ('+j.nearest[0]+', '+j.nearest[1]+'), confidence '+j.confidence.toFixed(3);});});
</script></body></html>"""


def _png(img: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", img[..., ::-1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def overlay(
    rgb: np.ndarray,
    heat: np.ndarray | None = None,
    mark: tuple[float, float] | None = None,
    scale: int = 3,
) -> np.ndarray:
    """(H, W, 3) uint8 image with an optional heatmap (H, W) blended in and a cross at ``mark``,
    upscaled by ``scale`` for viewing."""
    import cv2

    out = rgb.astype(np.float32)
    if heat is not None:
        h = heat / max(float(heat.max()), 1e-12)
        cmap = cv2.applyColorMap((h * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1].astype(
            np.float32
        )
        out = 0.45 * out + 0.55 * cmap
    out = cv2.resize(
        np.clip(out, 0, 255).astype(np.uint8),
        None,
        fx=scale,
        fy=scale,
        interpolation=cv2.INTER_NEAREST,
    )
    if mark is not None:
        u, v = (mark[0] + 0.5) * scale, (mark[1] + 0.5) * scale
        cv2.drawMarker(out, (int(u), int(v)), (255, 255, 255), cv2.MARKER_CROSS, 4 * scale, 2)
    return out


class DescriptorPairView:
    """Two images and their descriptor images; answers pixel queries from A into B."""

    def __init__(
        self,
        rgb_a: np.ndarray,
        rgb_b: np.ndarray,
        desc_a: torch.Tensor,
        desc_b: torch.Tensor,
        temperature: float = 0.0,
    ):
        self.rgb_a, self.rgb_b, self.desc_a, self.desc_b, self.temperature = (
            rgb_a,
            rgb_b,
            desc_a,
            desc_b,
            temperature,
        )

    def query(self, u: int, v: int):
        _, h, w = self.desc_a.shape
        if not (0 <= u < w and 0 <= v < h):
            raise ValueError(f"pixel ({u}, {v}) outside image A ({w}x{h})")
        return query_descriptors(self.desc_b, self.desc_a[:, v, u], self.temperature)


def write_heatmaps(
    view: DescriptorPairView, pixels: list[tuple[int, int]], out_dir: str | Path
) -> list[Path]:
    """For each pixel of A write ``heatmap_U_V.png`` (A with the pixel marked | B with the heatmap)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for u, v in pixels:
        q = view.query(u, v)
        a = overlay(view.rgb_a, mark=(u, v))
        b = overlay(view.rgb_b, q.heatmap[0], mark=tuple(q.uv[0]))
        sep = np.full((a.shape[0], 6, 3), 255, np.uint8)
        p = out / f"heatmap_{u}_{v}.png"
        p.write_bytes(_png(np.concatenate([a, sep, b], 1)))
        paths.append(p)
    return paths


def make_server(
    view: DescriptorPairView, port: int = 8765, host: str = "127.0.0.1", scale: int = 3
) -> ThreadingHTTPServer:
    """The viewer's HTTP server (not started); port 0 picks a free port."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the terminal quiet
            pass

        def _send(self, body: bytes, ctype: str, code: int = 200) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = parse_qs(url.query)
            try:
                if url.path == "/":
                    w = view.rgb_a.shape[1]
                    page = (
                        PAGE.replace("WA", str(w * scale))
                        .replace("WB", str(view.rgb_b.shape[1] * scale))
                        .replace(">T<", f">{view.temperature:.2f}<")
                    )
                    self._send(page.encode(), "text/html; charset=utf-8")
                elif url.path == "/a.png":
                    mark = (int(q["u"][0]), int(q["v"][0])) if "u" in q else None
                    self._send(_png(overlay(view.rgb_a, mark=mark, scale=scale)), "image/png")
                elif url.path == "/b.png":
                    self._send(_png(overlay(view.rgb_b, scale=scale)), "image/png")
                elif url.path in ("/heatmap.png", "/query"):
                    res = view.query(int(q["u"][0]), int(q["v"][0]))
                    if url.path == "/query":
                        body = {
                            "uv": res.uv[0].tolist(),
                            "nearest": res.nearest_uv[0].astype(int).tolist(),
                            "confidence": float(res.confidence[0]),
                        }
                        self._send(json.dumps(body).encode(), "application/json")
                    else:
                        self._send(
                            _png(overlay(view.rgb_b, res.heatmap[0], tuple(res.uv[0]), scale)),
                            "image/png",
                        )
                else:
                    self._send(b"not found", "text/plain", 404)
            except (KeyError, ValueError) as exc:
                self._send(str(exc).encode(), "text/plain", 400)

    return ThreadingHTTPServer((host, port), Handler)


def serve(
    view: DescriptorPairView, port: int = 8765, host: str = "127.0.0.1", scale: int = 3
) -> None:
    """Serve the viewer until interrupted (Ctrl-C)."""
    server = make_server(view, port, host, scale)
    print(
        f"descriptor viewer on http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


def load_image(path: str | Path) -> np.ndarray:
    """RGB uint8 image from a file; FileNotFoundError / ValueError naming the file."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot decode image {path}")
    return np.ascontiguousarray(img[..., ::-1])
