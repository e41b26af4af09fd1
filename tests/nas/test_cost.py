"""tfc as the cost model: the search's numbers equal the dynamo-exported compiled model's; budget errors."""
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from nas.cost import Budget, TfcCostModel, compile_cost, export_onnx  # noqa: E402
from nas.prune import apply_masks, make_masks  # noqa: E402
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
        fast = model.cost(arch.key(), lambda: static)
        final, cm = compile_cost(export_onnx(static, x[:1], dynamo=True), x.numpy(), "cortex-m7")
        assert fast.supported, fast.note
        assert (fast.flash_bytes, fast.sram_bytes) == (final.flash_bytes, final.sram_bytes), \
            f"{arch.key()}: search {fast} vs compiled {final}"
        assert final.flash_bytes == cm.report.memory.weight_bytes + cm.report.memory.quant_param_bytes


def test_both_exporters_give_the_same_plan_when_the_planner_meets_ties():
    """A network (found by a real run) whose buffers tie in the planner's order: its plan must not
    depend on the value names, which differ between the two exporters."""
    from nas.space import Arch, BlockChoice, StageChoice, TransformerChoice
    space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=1.0, transformer_start=2)
    arch = Arch(12, (StageChoice(8, (BlockChoice(5, 4),)), StageChoice(16, (BlockChoice(5, 6),))),
                TransformerChoice(16, 1, 1, 0))
    torch.manual_seed(0)
    x = torch.randn(16, 1, 16, 16)
    static = _static(SuperNet(space), arch, x)
    fast, _ = compile_cost(export_onnx(static, x[:1], dynamo=False), x.numpy(), "cortex-m7")
    final, _ = compile_cost(export_onnx(static, x[:1], dynamo=True), x.numpy(), "cortex-m7")
    assert (fast.flash_bytes, fast.sram_bytes) == (final.flash_bytes, final.sram_bytes), (fast, final)


def _pruned_compile(density, block=8):
    torch.manual_seed(0)
    space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=1.0)
    net, x = SuperNet(space), torch.randn(16, 1, 16, 16)
    arch = sample_arch(space, random.Random(0), "max")
    static = _static(net, arch, x)
    apply_masks(make_masks(static, {n: (density, block) for n in arch.prunable_layers()}))
    return compile_cost(export_onnx(static, x[:1], dynamo=False), x.numpy(), "cortex-m7")


def test_sparse_layers_lower_the_sparse_engine_estimate():
    dense, _ = _pruned_compile(1.0)
    sparse, cm = _pruned_compile(0.25)
    assert dense.sparse_layers == 0 and dense.instructions == pytest.approx(dense.instructions_as_compiled)
    assert sparse.sparse_layers > 0, "sparsify chose no sparse layer at 25% block density"
    # sparsify keeps a layer dense unless the cost model says sparse is faster: the total must drop
    assert sparse.instructions < dense.instructions, (sparse.instructions, dense.instructions)
    assert sparse.instructions <= sparse.instructions_as_compiled
    assert sparse.sparse_kernels <= sparse.sparse_layers


@pytest.mark.slow
def test_estimate_within_10_percent_of_tfc_bench():
    import shutil
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("needs the Arm toolchain and QEMU (scripts/install-target-tools.sh)")
    from tfc.bench import bench
    for density in (1.0, 0.5):
        cost, cm = _pruned_compile(density)
        measured = bench(cm).tfc.instructions
        err = (cost.instructions_as_compiled - measured) / measured
        assert abs(err) <= 0.10, f"density {density}: estimate {cost.instructions_as_compiled:,.0f} vs bench {measured:,} ({err:+.1%})"


def test_budget_nothing_fits_is_a_clear_error():
    x = np.random.default_rng(0).standard_normal((8, 1, 16, 16)).astype(np.float32)
    budget = Budget(flash_bytes=1024, sram_bytes=1024)
    score = score_space(SPACE, budget, TfcCostModel("cortex-m7", x), x, 2, random.Random(0))
    with pytest.raises(BudgetError) as e:
        choose_space([score], budget)
    text = str(e.value)
    assert "no sub-network" in text and "flash 1,024 B" in text and "smallest sub-network" in text, text
