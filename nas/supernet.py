"""The weight-sharing supernet (PyTorch): every `Arch` of one `SearchSpace` is a slice of it.

Elastic width slices the first output/input channels, elastic kernel takes the centre of the
largest kernel, elastic depth runs the first blocks of a stage, elastic heads take the first heads
(fixed head width), and the transformer's embedding width slices the token features. BatchNorm
keeps running statistics for the largest network; `recalibrate_bn` re-estimates them for one
sub-network before it is evaluated (as Once-for-All does).

`extract(supernet, arch)` builds a plain `StaticNet` holding copies of the slices with BatchNorm
folded into the convolutions: what is fine-tuned, exported to ONNX and compiled by tfc.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.space import HEAD_DIM, Arch, SearchSpace


# ------------------------------------------------------------------------------ elastic layers
class ElasticConvBN(nn.Module):
    """Conv (no bias) + BatchNorm, sliced to (in, out, kernel) at run time."""

    def __init__(self, max_in: int, max_out: int, max_k: int, stride: int = 1, depthwise: bool = False):
        super().__init__()
        self.stride, self.depthwise, self.max_k = stride, depthwise, max_k
        self.weight = nn.Parameter(torch.empty(max_out, 1 if depthwise else max_in, max_k, max_k))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.bn = nn.BatchNorm2d(max_out)
        self.prune: tuple[float, int] | None = None     # set by SuperNet.pruned

    def sliced_weight(self, cin: int, cout: int, k: int) -> torch.Tensor:
        lo = (self.max_k - k) // 2
        return self.weight[:cout, : (1 if self.depthwise else cin), lo:lo + k, lo:lo + k]

    def forward(self, x: torch.Tensor, cout: int, k: int) -> torch.Tensor:
        cin = x.shape[1]
        cout = cin if self.depthwise else cout
        w = _masked(self.sliced_weight(cin, cout, k), self.prune)
        y = F.conv2d(x, w, None, self.stride, k // 2, 1, cin if self.depthwise else 1)
        bn = self.bn
        factor = bn.momentum if bn.momentum is not None else 0.0
        if self.training and bn.momentum is None:          # cumulative average (recalibration)
            bn.num_batches_tracked += 1
            factor = 1.0 / float(bn.num_batches_tracked)
        return F.batch_norm(y, bn.running_mean[:cout], bn.running_var[:cout], bn.weight[:cout], bn.bias[:cout],
                            self.training, factor, bn.eps)


class ElasticLinear(nn.Module):
    def __init__(self, max_in: int, max_out: int, bias: bool = True):
        super().__init__()
        self.lin = nn.Linear(max_in, max_out, bias=bias)
        self.prune: tuple[float, int] | None = None     # set by SuperNet.pruned

    def forward(self, x: torch.Tensor, cout: int) -> torch.Tensor:
        b = self.lin.bias[:cout] if self.lin.bias is not None else None
        return F.linear(x, _masked(self.lin.weight[:cout, : x.shape[-1]], self.prune), b)


def _masked(w: torch.Tensor, prune: tuple[float, int] | None) -> torch.Tensor:
    """The weight slice with its weakest blocks zeroed (pruning-aware training): the mask is
    recomputed from the current magnitudes, and pruned blocks get no gradient from this step."""
    if prune is None or prune[0] >= 1.0:
        return w
    from nas.prune import block_mask
    return w * block_mask(w.detach(), *prune)


class ElasticLayerNorm(nn.Module):
    def __init__(self, max_d: int):
        super().__init__()
        self.ln = nn.LayerNorm(max_d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        return F.layer_norm(x, (d,), self.ln.weight[:d], self.ln.bias[:d], self.ln.eps)


# ------------------------------------------------------------------------------------ blocks
class ElasticInvertedResidual(nn.Module):
    def __init__(self, max_in: int, max_out: int, stride: int, max_k: int, max_e: int):
        super().__init__()
        hidden = max_in * max_e
        self.stride = stride
        self.expand = ElasticConvBN(max_in, hidden, 1)
        self.dw = ElasticConvBN(hidden, hidden, max_k, stride, depthwise=True)
        self.project = ElasticConvBN(hidden, max_out, 1)

    def forward(self, x, cout: int, k: int, e: int):
        h = F.relu6(self.expand(x, x.shape[1] * e, 1))
        h = F.relu6(self.dw(h, h.shape[1], k))
        y = self.project(h, cout, 1)
        return x + y if self.stride == 1 and x.shape[1] == cout else y


class ElasticTransformerBlock(nn.Module):
    def __init__(self, max_d: int, max_heads: int, max_ratio: int):
        super().__init__()
        inner = max_heads * HEAD_DIM
        self.ln1, self.ln2 = ElasticLayerNorm(max_d), ElasticLayerNorm(max_d)
        self.q, self.k, self.v = (ElasticLinear(max_d, inner) for _ in range(3))
        self.proj = ElasticLinear(inner, max_d)
        self.fc1 = ElasticLinear(max_d, max_d * max_ratio)
        self.fc2 = ElasticLinear(max_d * max_ratio, max_d)

    def forward(self, x, heads: int, ratio: int):
        d = x.shape[-1]
        h = self.ln1(x)
        x = x + self.proj(attention(self.q(h, heads * HEAD_DIM), self.k(h, heads * HEAD_DIM),
                                    self.v(h, heads * HEAD_DIM), heads), d)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x), d * ratio)), d)


def attention(q, k, v, heads: int):
    """Multi-head attention with explicit matmul/softmax (ops tfc imports), tokens [B, N, H*hd]."""
    b, n, _ = q.shape
    q, k, v = (t.reshape(b, n, heads, HEAD_DIM).transpose(1, 2) for t in (q, k, v))
    a = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(HEAD_DIM)), dim=-1)
    return (a @ v).transpose(1, 2).reshape(b, n, heads * HEAD_DIM)


# ---------------------------------------------------------------------------------- supernet
class SuperNet(nn.Module):
    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space
        max_stem = max(space.stem_widths)
        self.stem = ElasticConvBN(space.in_channels, max_stem, 3, space.stem_stride)
        self.stages = nn.ModuleList()
        cin = max_stem
        for st in space.cnn_stages:
            blocks = nn.ModuleList()
            for j in range(max(st.depths)):
                blocks.append(ElasticInvertedResidual(cin, max(st.widths), st.stride if j == 0 else 1,
                                                      max(st.kernels), max(st.expansions)))
                cin = max(st.widths)
            self.stages.append(blocks)
        self.transformer = None
        feat = cin
        if space.transformer:
            ts = space.transformer
            d = max(ts.embed_dims)
            self.embed = ElasticConvBN(cin, d, 1)
            self.transformer = nn.ModuleList(ElasticTransformerBlock(d, max(ts.heads), max(ts.mlp_ratios))
                                             for _ in range(max(ts.depths)))
            feat = max(cin, d)
        self.head = ElasticLinear(feat, space.num_classes)

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        x = F.relu6(self.stem(x, arch.stem_width, 3))
        for blocks, choice in zip(self.stages, arch.stages):
            for block, b in zip(blocks, choice.blocks):
                x = block(x, choice.width, b.kernel, b.expansion)
        t = arch.transformer
        if t is not None and t.depth:
            x = self.embed(x, t.embed, 1)
            bsz, d, hh, ww = x.shape
            tokens = x.flatten(2).transpose(1, 2)
            for block in self.transformer[: t.depth]:
                tokens = block(tokens, t.heads, t.mlp_ratio)
            x = tokens.transpose(1, 2).reshape(bsz, d, hh, ww)
        x = F.avg_pool2d(x, (x.shape[2], x.shape[3])).flatten(1)
        return self.head(x, self.space.num_classes)

    def prunable(self, arch: Arch) -> dict[str, tuple[nn.Module, ...]]:
        """The elastic layers behind `arch.prunable_layers()` names (as StaticNet.prunable names them)."""
        blocks = [block for stage, s in zip(self.stages, arch.stages) for block in stage[: len(s.blocks)]]
        t = arch.transformer
        tblocks = list(self.transformer[: t.depth]) if t is not None and t.depth else []
        return prunable_layers(arch, blocks, self.embed if tblocks else None, tblocks, self.head)

    @contextlib.contextmanager
    def pruned(self, arch: Arch, sparsity: dict[str, tuple[float, int]]):
        """Run `arch` with its layers blockwise pruned as `sparsity` says ({name: (density, block)})."""
        layers = [(m, sparsity[name]) for name, mods in self.prunable(arch).items() if name in sparsity
                  for m in mods]
        try:
            for m, spec in layers:
                m.prune = spec
            yield self
        finally:
            for m, _ in layers:
                m.prune = None


@torch.no_grad()
def recalibrate_bn(net: SuperNet, arch: Arch, batches) -> None:
    """Re-estimate BatchNorm statistics for `arch` (cumulative average over `batches`)."""
    saved = {}
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            saved[m] = m.momentum
            m.reset_running_stats()
            m.momentum = None
    was_training = net.training
    net.train()
    for x in batches:
        net(x, arch)
    net.train(was_training)
    for m, mom in saved.items():
        m.momentum = mom


# ------------------------------------------------------------------------------ static networks
def _fold(conv: ElasticConvBN, cin: int, cout: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The conv's slice with its BatchNorm folded in: (weight, bias)."""
    w = conv.sliced_weight(cin, cout, k).detach()
    bn = conv.bn
    scale = bn.weight[:cout].detach() / torch.sqrt(bn.running_var[:cout] + bn.eps)
    bias = bn.bias[:cout].detach() - bn.running_mean[:cout] * scale
    return (w * scale.reshape(-1, 1, 1, 1)).clone(), bias.clone()


def _conv(w: torch.Tensor, b: torch.Tensor, stride: int, depthwise: bool) -> nn.Conv2d:
    cout, cin_g, k, _ = w.shape
    cin = cout if depthwise else cin_g
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=cin if depthwise else 1, bias=True)
    conv.weight.data.copy_(w)
    conv.bias.data.copy_(b)
    return conv


def _linear(src: ElasticLinear, cin: int, cout: int) -> nn.Linear:
    lin = nn.Linear(cin, cout, bias=src.lin.bias is not None)
    lin.weight.data.copy_(src.lin.weight[:cout, :cin].detach())
    if lin.bias is not None:
        lin.bias.data.copy_(src.lin.bias[:cout].detach())
    return lin


class StaticBlock(nn.Module):
    def __init__(self, expand: nn.Conv2d, dw: nn.Conv2d, project: nn.Conv2d, residual: bool):
        super().__init__()
        self.expand, self.dw, self.project, self.residual = expand, dw, project, residual

    def forward(self, x):
        y = self.project(F.relu6(self.dw(F.relu6(self.expand(x)))))
        return x + y if self.residual else y


class StaticTransformerBlock(nn.Module):
    def __init__(self, src: ElasticTransformerBlock, d: int, heads: int, ratio: int):
        super().__init__()
        inner = heads * HEAD_DIM
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        for dst, s in ((self.ln1, src.ln1), (self.ln2, src.ln2)):
            dst.weight.data.copy_(s.ln.weight[:d].detach())
            dst.bias.data.copy_(s.ln.bias[:d].detach())
        self.q, self.k, self.v = (_linear(s, d, inner) for s in (src.q, src.k, src.v))
        self.proj = _linear(src.proj, inner, d)
        self.fc1 = _linear(src.fc1, d, d * ratio)
        self.fc2 = _linear(src.fc2, d * ratio, d)

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.proj(attention(self.q(h), self.k(h), self.v(h), self.heads))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class StaticNet(nn.Module):
    """One sub-network as an ordinary module (BatchNorm folded): fine-tuned, exported, compiled."""

    def __init__(self, stem, blocks, embed, tblocks, head, arch: Arch):
        super().__init__()
        self.stem, self.blocks, self.embed, self.head = stem, nn.ModuleList(blocks), embed, head
        self.tblocks = nn.ModuleList(tblocks)
        self.arch = arch

    def forward(self, x):
        x = F.relu6(self.stem(x))
        for b in self.blocks:
            x = b(x)
        if self.embed is not None:
            x = self.embed(x)
            bsz, d, hh, ww = x.shape
            t = x.flatten(2).transpose(1, 2)
            for b in self.tblocks:
                t = b(t)
            x = t.transpose(1, 2).reshape(bsz, d, hh, ww)
        x = F.avg_pool2d(x, (x.shape[2], x.shape[3])).flatten(1)
        return self.head(x)

    def prunable(self) -> dict[str, tuple[nn.Module, ...]]:
        """{layer name: its modules} in the order and naming of `Arch.prunable_layers()`."""
        return prunable_layers(self.arch, list(self.blocks), self.embed, list(self.tblocks), self.head)


def prunable_layers(arch: Arch, blocks, embed, tblocks, head) -> dict[str, tuple[nn.Module, ...]]:
    """`arch.prunable_layers()` names -> modules, for a supernet's slice or a static network alike
    (both blocks have expand/dw/project, both transformer blocks q/k/v/proj/fc1/fc2). q, k and v
    are pruned together under one name (one gene)."""
    modules = [(m,) for b in blocks for m in (b.expand, b.dw, b.project)]
    if embed is not None:
        modules.append((embed,))
        for b in tblocks:
            modules += [(b.q, b.k, b.v), (b.proj,), (b.fc1,), (b.fc2,)]
    modules.append((head,))
    return dict(zip(arch.prunable_layers(), modules, strict=True))


@torch.no_grad()
def extract(net: SuperNet, arch: Arch) -> StaticNet:
    """Copy `arch`'s slice out of the supernet (BatchNorm folded with its current statistics)."""
    space = net.space
    stem = _conv(*_fold(net.stem, space.in_channels, arch.stem_width, 3), space.stem_stride, False)
    blocks, cin = [], arch.stem_width
    for stage_mods, choice in zip(net.stages, arch.stages):
        for block, b in zip(stage_mods, choice.blocks):
            hidden = cin * b.expansion
            blocks.append(StaticBlock(_conv(*_fold(block.expand, cin, hidden, 1), 1, False),
                                      _conv(*_fold(block.dw, hidden, hidden, b.kernel), block.stride, True),
                                      _conv(*_fold(block.project, hidden, choice.width, 1), 1, False),
                                      block.stride == 1 and cin == choice.width))
            cin = choice.width
    embed, tblocks, t = None, [], arch.transformer
    if t is not None and t.depth:
        embed = _conv(*_fold(net.embed, cin, t.embed, 1), 1, False)
        tblocks = [StaticTransformerBlock(b, t.embed, t.heads, t.mlp_ratio) for b in net.transformer[: t.depth]]
        cin = t.embed
    head = _linear(net.head, cin, space.num_classes)
    return StaticNet(stem, blocks, embed, tblocks, head, arch).eval()
