"""tfc as the cost model: the search's numbers equal the dynamo-exported compiled model's; budget errors."""
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from nas.cost import Budget, DesignFormulaStandIn, TfcCostModel, compile_cost, estimate_instructions, \
    export_onnx, layer_shapes  # noqa: E402
from nas.errors import BudgetError  # noqa: E402
from nas.space import make_space, sample_arch  # noqa: E402
from nas.supernas import choose_space, score_space  # noqa: E402
from nas.supernet import SuperNet, extract, recalibrate_bn  # noqa: E402

SPACE = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5)


def _static(net, arch, x):
    recalibrate_bn(net, arch, [x])
    net.eval()
    return extract(net, arch)


def test_search_cost_equals_compiled_dynamo_model():
    torch.manual_seed(0)
    net, x = SuperNet(SPACE), torch.randn(16, 1, 16, 16)
    model = TfcCostModel("cortex-m7", x.numpy())
    for mode in ("min", "random"):
        arch = sample_arch(SPACE, random.Random(3), mode)
        static = _static(net, arch, x)
        fast = model.cost(arch, lambda: static)
        final, cm = compile_cost(export_onnx(static, x[:1], dynamo=True), x.numpy(), "cortex-m7")
        assert fast.supported, fast.note
        assert (fast.flash_bytes, fast.sram_bytes) == (final.flash_bytes, final.sram_bytes), \
            f"{arch.key()}: search {fast} vs compiled {final}"
        assert final.flash_bytes == cm.report.memory.weight_bytes + cm.report.memory.quant_param_bytes


def test_sparsity_lowers_the_instruction_estimate_monotonically():
    net, x = SuperNet(SPACE), torch.randn(4, 1, 16, 16)
    arch = sample_arch(SPACE, random.Random(0), "max")
    shapes = layer_shapes(_static(net, arch, x), x)
    est = DesignFormulaStandIn()
    dense = estimate_instructions(shapes, {}, est)
    sparse = [estimate_instructions(shapes, {n: (d, 4) for n in arch.prunable_layers()}, est)
              for d in (0.75, 0.5, 0.25)]
    assert dense >= sparse[0] >= sparse[1] >= sparse[2], (dense, sparse)
    assert sparse[2] < dense, "25% density should beat dense for 4-blocks"


def test_budget_nothing_fits_is_a_clear_error():
    x = np.random.default_rng(0).standard_normal((8, 1, 16, 16)).astype(np.float32)
    budget = Budget(flash_bytes=1024, sram_bytes=1024)
    score = score_space(SPACE, budget, TfcCostModel("cortex-m7", x), x, 2, random.Random(0))
    with pytest.raises(BudgetError) as e:
        choose_space([score], budget)
    text = str(e.value)
    assert "no sub-network" in text and "flash 1,024 B" in text and "smallest sub-network" in text, text
