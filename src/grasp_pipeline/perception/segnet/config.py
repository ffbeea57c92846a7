"""Configuration of the hourglass RGB-D segmentation network."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class SegNetConfig:
    """Shape of :class:`~grasp_pipeline.perception.segnet.model.SegNet`.

    ``filters`` are the output channels of the encoder's convolutional layers 1..N-1; layer 1 keeps
    the input resolution and every later one halves it, so ``width`` and ``height`` must be
    divisible by ``2 ** (len(filters) - 1)``. One more innermost layer maps to ``num_classes``
    channels: its global max over space is the classification vector. Dropout
    (``dropout`` probability) acts on the two innermost layers, which are layers 6 and 7 for the
    default six-filter encoder, as in the paper. The paper's exact filter counts are only given in a
    figure that is not in our text; the defaults were chosen to keep the model a few MB.
    """

    width: int = 256  # input/output pixels
    height: int = 192
    in_channels: int = 4  # R, G, B in [0, 1] and depth scaled to [0, 1]
    num_classes: int = 13
    filters: tuple[int, ...] = (16, 32, 48, 64, 96, 128)
    dropout: float = 0.15
    # Batch normalisation after every convolution but the waist (not in the paper; trains much faster from
    # scratch and folds into the convolutions at inference). False = the paper's plain network.
    batch_norm: bool = False
    # A class-agnostic head that predicts, for every pixel of an object, the offset (du, dv) in
    # output pixels to that object's projected centre of mass (not in the paper). The pickup point
    # then becomes the activation-weighted mean of the votes pixel + offset, which reaches the
    # centre of mass where a mask centroid cannot (occlusion, side faces, hollow parts).
    offset_head: bool = False

    def __post_init__(self) -> None:
        if len(self.filters) < 2 or any(int(f) <= 0 for f in self.filters):
            raise ValueError(f"filters must be >= 2 positive ints, got {self.filters}")
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        factor = 2 ** (len(self.filters) - 1)
        if self.width % factor or self.height % factor:
            raise ValueError(
                f"input size {self.width}x{self.height} must be divisible by {factor} "
                f"for {len(self.filters)} encoder layers"
            )
        if self.in_channels <= 0 or self.num_classes <= 0:
            raise ValueError("in_channels and num_classes must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (self.width, self.height)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["filters"] = list(self.filters)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> SegNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown SegNetConfig field(s) {sorted(unknown)}")
        kwargs = dict(data)
        if "filters" in kwargs:
            kwargs["filters"] = tuple(kwargs["filters"])
        return cls(**kwargs)
