"""Search space sampling and elastic supernet shapes."""
import random

import pytest

from nas.space import Arch, SearchSpace, arch_in_space, candidate_spaces, make_space, sample_arch

torch = pytest.importorskip("torch")
from nas.supernet import SuperNet, extract, recalibrate_bn  # noqa: E402

SPACES = [make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5, transformer_start=t)
          for t in (None, 2, 3)]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_samples_stay_in_space_and_round_trip(space):
    rng = random.Random(0)
    for i in range(50):
        arch = sample_arch(space, rng, ("min", "max", "random")[i % 3])
        assert arch_in_space(arch, space), arch.key()
        assert Arch.from_dict(arch.to_dict()) == arch
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_min_max_are_extremes():
    s = SPACES[1]
    lo, hi = sample_arch(s, random.Random(0), "min"), sample_arch(s, random.Random(0), "max")
    assert lo.stem_width == min(s.stem_widths) and hi.stem_width == max(s.stem_widths)
    assert [len(st.blocks) for st in hi.stages] == [max(st.depths) for st in s.cnn_stages]
    assert hi.transformer.depth == max(s.transformer.depths) and lo.transformer.depth == 0


def test_candidate_spaces_cross_product():
    spaces = candidate_spaces(in_channels=3, num_classes=10, resolutions=(16, 32), width_mults=(0.5, 1.0),
                              transformer_starts=(None, 2))
    assert len({s.name for s in spaces}) == 8
    assert all(w % 4 == 0 for s in spaces for st in s.stages for w in st.widths)


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_elastic_forward_shapes_and_extraction_match(space):
    torch.manual_seed(0)
    net = SuperNet(space)
    x = torch.randn(3, 1, 16, 16)
    rng = random.Random(1)
    for mode in ("min", "max", "random", "random"):
        arch = sample_arch(space, rng, mode)
        recalibrate_bn(net, arch, [x])
        net.eval()
        y = net(x, arch).detach()
        assert y.shape == (3, 10), (arch.key(), y.shape)
        static = extract(net, arch)
        diff = float((static(x) - y).abs().max().detach())
        assert diff < 1e-4, f"{arch.key()}: extracted net differs from the supernet slice by {diff}"
        assert list(static.prunable()) == list(arch.prunable_layers())


def test_recalibration_changes_bn_statistics():
    space = SPACES[0]
    net = SuperNet(space)
    arch = sample_arch(space, random.Random(0), "min")
    recalibrate_bn(net, arch, [torch.randn(8, 1, 16, 16) * 3 + 1])
    mean = net.stem.bn.running_mean[: arch.stem_width]
    assert float(mean.abs().max()) > 0, "recalibration left the running mean at zero"
