"""A tiny corpus from torch alone (tfc's own environment has torch): small blocks written the way
the transformers vision models write them, exported with both torch exporters. CI runs it
through the same harness as the full corpus (tests/benchmarks/test_corpus.py)."""
from __future__ import annotations

from pathlib import Path

from benchmarks.corpus.specs import SEED, TORCH_EXPORTS, Entry


def _modules():
    import torch
    from torch import nn
    import torch.nn.functional as F

    class PoolFormerBlock(nn.Module):
        """PoolFormer's token mixer: GroupNorm(1, C), avg-pool minus identity, conv MLP."""

        def __init__(self, c=16):
            super().__init__()
            self.stem = nn.Conv2d(3, c, 3, stride=2, padding=1)
            self.norm = nn.GroupNorm(1, c)
            self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
            self.mlp = nn.Sequential(nn.Conv2d(c, 2 * c, 1), nn.GELU(), nn.Conv2d(2 * c, c, 1))
            self.head = nn.Linear(c, 10)

        def forward(self, x):
            x = self.stem(x)
            y = self.norm(x)
            x = x + self.pool(y) - y
            x = x + self.mlp(x)
            return self.head(x.mean((2, 3)))

    class AttentionBlock(nn.Module):
        """A ViT encoder layer with one fused qkv Linear, chunk(3) and SDPA."""

        def __init__(self, d=32, heads=2):
            super().__init__()
            self.heads = heads
            self.patch = nn.Conv2d(3, d, 4, stride=4)
            self.norm = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.head = nn.Linear(d, 10)

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2)
            b, n, d = x.shape
            q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
            q, k, v = (t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
            x = x + self.proj(y)
            return self.head(x.mean(1))

    class ConvNet(nn.Module):
        """A MobileNet-like stack: conv, depthwise + pointwise, ReLU6, global pool."""

        def __init__(self, c=16):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(3, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU6(),
                nn.Conv2d(c, c, 3, 1, 1, groups=c), nn.BatchNorm2d(c), nn.ReLU6(),
                nn.Conv2d(c, 2 * c, 1), nn.BatchNorm2d(2 * c), nn.ReLU6(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * c, 10))

        def forward(self, x):
            return self.body(x)

    return {"tiny_convnet": ConvNet, "tiny_poolformer": PoolFormerBlock, "tiny_attention": AttentionBlock}


IMAGE = 32


def build_tiny(out: Path) -> list[Entry]:
    """Export every tiny model with both exporters into `out`; the entries the harness reads."""
    import torch
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    shape = [1, 3, IMAGE, IMAGE]
    for name, cls in _modules().items():
        torch.manual_seed(SEED)
        model = cls().eval()
        params = sum(p.numel() for p in model.parameters())
        x = torch.randn(*shape)
        for suffix, dynamo, opset in TORCH_EXPORTS:
            path = out / f"{name}.{suffix}.onnx"
            extra = {"external_data": False} if dynamo else {}
            with torch.no_grad():
                torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=opset,
                                  input_names=["pixel_values"], output_names=["logits"], **extra)
            entries.append(Entry(f"{name}.{suffix}", name, "float", path.name, shape, params=params))
    return entries
