"""A small TinyFormer-like CNN + transformer hybrid in PyTorch, the importer's end-to-end test model.

conv stem -> two inverted-residual blocks -> patch embedding -> two pre-norm transformer blocks
(2 and 4 heads) -> mean over tokens -> LayerNorm -> linear classifier (10 classes).

Attention comes in three spellings because exporters emit different graphs for each:
`attention="mha"` uses `nn.MultiheadAttention`, `attention="explicit"` writes q/k/v Linear,
reshape/transpose, matmul and softmax by hand, `attention="fused"` one qkv Linear and `chunk(3)`
(as most model code does). All spellings hold the same weights for the same seed, so their
outputs agree.
"""
from __future__ import annotations

import math

import torch
from torch import nn

INPUT_SHAPE = (1, 3, 32, 32)
NUM_CLASSES = 10
ATTENTION_STYLES = ("mha", "explicit", "fused")


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1, depthwise 3x3, project 1x1 (linear), residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, act: type[nn.Module]):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act(),
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), act(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.use_residual else y


class _SpelledOutSelfAttention(nn.Module):
    """Multi-head self-attention written by hand; subclasses say how q, k and v are projected.
    Parameter values match nn.MultiheadAttention's (load_from_mha)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.out = nn.Linear(dim, dim)

    def projections(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def load_in_projection(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split_heads(t: torch.Tensor) -> torch.Tensor:  # [b, n, d] -> [b, heads, n, head_dim]
            return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = (split_heads(t) for t in self.projections(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        context = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out(context.transpose(1, 2).reshape(b, n, d))

    def load_from_mha(self, mha: nn.MultiheadAttention) -> None:
        """Copy nn.MultiheadAttention's weights so every spelling computes the same."""
        with torch.no_grad():
            self.load_in_projection(mha.in_proj_weight, mha.in_proj_bias)
            self.out.weight.copy_(mha.out_proj.weight)
            self.out.bias.copy_(mha.out_proj.bias)


class ExplicitSelfAttention(_SpelledOutSelfAttention):
    """Separate q, k and v Linears."""

    def __init__(self, dim: int, heads: int):
        super().__init__(dim, heads)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)

    def projections(self, x):
        return self.q(x), self.k(x), self.v(x)

    def load_in_projection(self, weight, bias):
        for linear, w, b in zip((self.q, self.k, self.v), weight.chunk(3), bias.chunk(3)):
            linear.weight.copy_(w)
            linear.bias.copy_(b)


class FusedQKVSelfAttention(_SpelledOutSelfAttention):
    """One qkv Linear split by chunk(3) (the exporters' Split), as most model code writes it."""

    def __init__(self, dim: int, heads: int):
        super().__init__(dim, heads)
        self.qkv = nn.Linear(dim, 3 * dim)

    def projections(self, x):
        return self.qkv(x).chunk(3, dim=-1)

    def load_in_projection(self, weight, bias):
        self.qkv.weight.copy_(weight)
        self.qkv.bias.copy_(bias)


class MHASelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mha(x, x, x, need_weights=False)[0]


class TransformerBlock(nn.Module):
    """Pre-norm: x + attn(LN(x)), then x + MLP(LN(x)) with GELU."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, attention: str):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = {"mha": MHASelfAttention, "explicit": ExplicitSelfAttention,
                     "fused": FusedQKVSelfAttention}[attention](dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class HybridNet(nn.Module):
    def __init__(self, attention: str = "mha", dim: int = 96, heads: tuple[int, int] = (2, 4),
                 stem_act: str = "hardswish"):
        super().__init__()
        if attention not in ATTENTION_STYLES:
            raise ValueError(f"attention must be one of {ATTENTION_STYLES}, got {attention!r}")
        act = {"hardswish": nn.Hardswish, "relu6": nn.ReLU6}[stem_act]
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), act())
        self.stages = nn.Sequential(
            InvertedResidual(16, 16, stride=1, expand=4, act=nn.ReLU6),  # 16x16, residual add
            InvertedResidual(16, 24, stride=2, expand=4, act=nn.ReLU6),  # 8x8, no residual
        )
        self.patch_embed = nn.Conv2d(24, dim, kernel_size=2, stride=2)  # 8x8 -> 4x4 = 16 tokens
        self.pos_embed = nn.Parameter(torch.zeros(1, 16, dim))
        self.blocks = nn.Sequential(*(TransformerBlock(dim, h, mlp_ratio=2, attention=attention) for h in heads))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(self.stages(self.stem(x)))
        tokens = x.flatten(2).transpose(1, 2) + self.pos_embed  # [b, c, h, w] -> [b, h*w, c]
        tokens = self.blocks(tokens)
        return self.head(self.norm(tokens.mean(dim=1)))


def _randomize_norm_stats(model: nn.Module, generator: torch.Generator) -> None:
    """Give BatchNorm/LayerNorm non-trivial affine params and running stats, so folding is exercised."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                n = m.weight.shape[0]
                m.weight.copy_(1.0 + 0.2 * torch.randn(n, generator=generator))
                m.bias.copy_(0.1 * torch.randn(n, generator=generator))
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))


def build_hybrid(attention: str = "mha", seed: int = 0, **kwargs) -> HybridNet:
    """The test model in eval mode with deterministic weights; both attention spellings agree."""
    torch.manual_seed(seed)
    reference = HybridNet("mha", **kwargs)  # weights are always drawn in the "mha" layout
    generator = torch.Generator().manual_seed(seed + 1)
    _randomize_norm_stats(reference, generator)
    with torch.no_grad():
        reference.pos_embed.copy_(0.02 * torch.randn(reference.pos_embed.shape, generator=generator))
    if attention == "mha":
        return reference.eval()
    model = HybridNet(attention, **kwargs)
    state = {k: v for k, v in reference.state_dict().items() if ".attn." not in k}
    missing, _ = model.load_state_dict(state, strict=False)
    assert all(".attn." in k for k in missing), missing
    for block, ref_block in zip(model.blocks, reference.blocks):
        block.attn.load_from_mha(ref_block.attn.mha)
    return model.eval()


def example_input(seed: int = 0) -> torch.Tensor:
    return torch.randn(INPUT_SHAPE, generator=torch.Generator().manual_seed(seed))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
