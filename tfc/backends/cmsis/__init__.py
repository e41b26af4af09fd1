"""The CMSIS-NN C backend: the int8 IR to a C project (model.h/.c, weights.c, kernels, Makefile,
CMakeLists.txt), and a runner that builds it with gcc and runs it on the host.

    info = write_project(graph, "out/resnet", target="cortex-m7", name="resnet")
    runner = HostRunner("out/resnet")      # builds once
    y = runner.run(x)                      # float in/out, or raw int8 with raw=True
    TargetRunner(info).run(x)              # the same on the emulated Cortex-M7 (QEMU)
"""
from tfc.backends.cmsis.project import LayerInfo, ProjectInfo, plan_project, write_project  # noqa: F401
from tfc.backends.cmsis.host import HostRunner  # noqa: F401
from tfc.backends.cmsis.target_runner import TargetRunner, check_fits  # noqa: F401
