"""Configuration of the descriptor network and its training losses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from grasp_pipeline.perception.onednn_guard import MIN_STRIDED_1X1_IN_CHANNELS


@dataclass
class DescriptorNetConfig:
    """Network shape. ``descriptor_dim`` D in 3..512, ``num_keypoints`` N in 8..128.

    ``base_width`` is the channel count of the ResNet stem (64 in ResNet-34); smaller values
    keep the same depth and layout with fewer channels for CPU runs.
    """

    descriptor_dim: int = 16
    num_keypoints: int = 128
    base_width: int = 64
    blocks: tuple[int, int, int, int] = (3, 4, 6, 3)
    keypoint_heads: bool = True  # False for the DON baseline (descriptors only)
    # Unit-length descriptors: a cosine-trained model (NT-Xent) lives on the sphere, so its
    # L2 matches (PCK, queries) must be taken there.
    normalize: bool = False
    # "none": the paper's network (identity layer on the stride-16 features, upsampled).
    # "skip": our CPU-scale addition - the identity layer's output upsampled to stride 4 plus a
    # 1x1 projection of the stride-4 stage (a one-level feature pyramid), so descriptors and
    # keypoint heads see stride-4 detail at small input sizes; then upsampled as in the paper.
    decoder: str = "none"

    def __post_init__(self) -> None:
        if self.decoder not in ("none", "skip"):
            raise ValueError(f"decoder must be 'none' or 'skip', got {self.decoder!r}")
        if not 3 <= self.descriptor_dim <= 512:
            raise ValueError(f"descriptor_dim must be in 3..512, got {self.descriptor_dim}")
        if self.keypoint_heads and not 8 <= self.num_keypoints <= 128:
            raise ValueError(f"num_keypoints must be in 8..128, got {self.num_keypoints}")
        if self.base_width < MIN_STRIDED_1X1_IN_CHANNELS:
            # A narrower stem reaches a oneDNN defect (see perception/onednn_guard.py).
            raise ValueError(
                f"base_width must be >= {MIN_STRIDED_1X1_IN_CHANNELS}, got {self.base_width}"
            )
        self.blocks = tuple(int(b) for b in self.blocks)
        if len(self.blocks) != 4 or min(self.blocks) < 1:
            raise ValueError(f"blocks must be four positive counts, got {self.blocks}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> DescriptorNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown network config field(s) {sorted(unknown)}")
        return cls(**data)


@dataclass
class KeypointLossConfig:
    """Weights and constants of the keypoint losses (paper: weights 1.0, variance 1e-3).

    ``separation_margin_px``: keypoints closer than this (pixels) are pushed apart.
    ``mvc_scale``: the multi-view consistency Huber loss compares 3-D points in metres times
    this factor (100 -> centimetres) with Huber threshold ``huber_delta`` in those units.
    """

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "silhouette": 1.0,
            "variance": 1e-3,
            "separation": 1.0,
            "multiview": 1.0,
            "pose": 1.0,
        }
    )
    separation_margin_px: float = 2.0
    mvc_scale: float = 100.0
    huber_delta: float = 1.0
    # Our addition (weight "correspondence", 0 = the paper): the pixelwise distribution loss on
    # the pairs' known matches (perception/descriptors/correspondence.py), target Gaussian sigma.
    correspondence_sigma_px: float = 1.0
    # Coarse-to-fine: the target starts this wide (pixels) and narrows linearly to
    # correspondence_sigma_px over the first ``correspondence_anneal`` of training (None: fixed).
    correspondence_sigma_start_px: float | None = None
    correspondence_anneal: float = 0.6

    def __post_init__(self) -> None:
        expected = {"silhouette", "variance", "separation", "multiview", "pose", "correspondence"}
        unknown = set(self.weights) - expected
        if unknown:
            raise ValueError(
                f"unknown keypoint loss weight(s) {sorted(unknown)}; known {sorted(expected)}"
            )
        self.weights = {k: float(self.weights.get(k, 0.0)) for k in sorted(expected)}
