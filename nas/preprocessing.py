"""What turns a raw image into the network's input: one record, written into the run directory,
the exported ONNX's metadata and the report, so a deployment feeds the model what it was trained on.

    input = resize((pixels * scale - mean) / std)     per channel, NCHW, channels in `channels` order
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import numpy as np

ONNX_METADATA_KEY = "tfc_nas.preprocessing"
RESIZE_METHOD = "bilinear, align_corners=False (torch.nn.functional.interpolate)"


@dataclass(frozen=True)
class Preprocessing:
    source: str                     # where the pixels come from, e.g. "IDX uint8 28x28"
    channels: str                   # channel order of the input: "L" (grayscale) or "RGB"
    scale: float                    # raw pixel -> [0, 1] (1/255 for uint8, 1 for float arrays)
    mean: tuple[float, ...]         # per channel, subtracted after scaling
    std: tuple[float, ...]          # per channel, divided by after subtracting the mean
    loaded_size: tuple[int, int]    # H, W of the loaded images (after any resize on loading)
    load_resize: str = ""           # how images of other sizes were brought to loaded_size ("" = none)
    resolution: int | None = None   # the network's input side, set once the search space is chosen
    layout: str = "NCHW"

    def with_resolution(self, resolution: int) -> "Preprocessing":
        return replace(self, resolution=resolution)

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        """Raw NCHW pixels (any dtype) -> float32 network input before the final resize."""
        mean = np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, -1, 1, 1)
        return ((raw.astype(np.float32) * np.float32(self.scale) - mean) / std).astype(np.float32)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["resize"] = (f"{RESIZE_METHOD} from {self.loaded_size[0]}x{self.loaded_size[1]} to "
                       f"{self.resolution}x{self.resolution}" if self.resolution else None)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def describe(self) -> str:
        fmt = lambda v: "(" + ", ".join(f"{x:.4f}" for x in v) + ")"  # noqa: E731
        size = f"{self.loaded_size[0]}x{self.loaded_size[1]}"
        load = f", loaded as {size} ({self.load_resize})" if self.load_resize else f", {size}"
        res = (f"; resized {RESIZE_METHOD.split(' (')[0]} to {self.resolution}x{self.resolution}"
               if self.resolution and (self.resolution, self.resolution) != tuple(self.loaded_size) else "")
        return (f"{self.source}{load}; {self.channels} {self.layout}; x * {self.scale:g}, minus mean {fmt(self.mean)}, "
                f"divided by std {fmt(self.std)}{res}")


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of scaled NCHW pixels (the training split's)."""
    mean = x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = x.std(axis=(0, 2, 3), dtype=np.float64)
    return tuple(round(float(m), 6) for m in mean), tuple(round(float(max(s, 1e-6)), 6) for s in std)


def attach_to_onnx(onnx_bytes: bytes, pre: Preprocessing) -> bytes:
    """The exported model with the preprocessing in its metadata_props (tfc ignores them)."""
    import onnx
    model = onnx.load_from_string(onnx_bytes)
    props = {p.key: p.value for p in model.metadata_props}
    props[ONNX_METADATA_KEY] = pre.to_json()
    del model.metadata_props[:]
    for k in sorted(props):
        model.metadata_props.add(key=k, value=props[k])
    return model.SerializeToString()
