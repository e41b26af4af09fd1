#!/usr/bin/env bash
# The main job, from a fresh machine: install tfc (and the Arm toolchain + QEMU), import the
# bundled demo model (MLPerf Tiny ResNet-8, int8), run the pipeline with IR dumps, print the final
# IR and the report (flash and SRAM bytes, per-layer table), write the C project, build it with
# gcc and run it on a few inputs, run the same inputs on the emulated Cortex-M7 (the bytes must
# agree), and count the instructions per layer there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

"$PYTHON" -m pip install --quiet -e .
bash scripts/install-target-tools.sh

OUT="${OUT_DIR:-out/demo}"
MODEL="$("$PYTHON" -c 'import tfc.data; print(tfc.data.DEMO_MODEL)')"
mkdir -p "$OUT"
echo "== imported IR (before any pass): $OUT/imported.tfcir"
"$PYTHON" -m tfc.cli inspect "$MODEL" > "$OUT/imported.tfcir"
echo "   $(grep -c ' = ' "$OUT/imported.tfcir") ops"
echo
echo "== tfc compile $MODEL --target cortex-m7 --dump-ir $OUT/dumps -o $OUT/project"
# Long IR lines (a conv's attributes and types) are wrapped for reading; the .tfcir dumps keep
# one op per line.
"$PYTHON" -m tfc.cli compile "$MODEL" --target cortex-m7 --dump-ir "$OUT/dumps" --print-ir -v \
    -o "$OUT/project" --name resnet8 2>&1 | "$PYTHON" -c 'import re, sys
for line in sys.stdin:  # wrap after a space or a comma (per-channel scale lists have no spaces)
    line, rows = line.rstrip("\n"), []
    indent = " " * (len(line) - len(line.lstrip()) + 6)
    for part in re.split(r"(?<=[, ])", line):
        if rows and len(rows[-1]) + len(part) > 110 and rows[-1].strip():
            rows.append(indent + part.lstrip())
        else:
            rows[-1:] = [(rows[-1] if rows else "") + part]
    print("\n".join(r.rstrip() for r in rows))'
echo
echo "== the generated project, built standalone with gcc (make -C $OUT/project), on 4 random inputs"
make -s -C "$OUT/project"
"$PYTHON" -c 'import numpy as np; np.save("'"$OUT"'/x.npy", np.random.default_rng(0).integers(-128, 128, (4, 1, 32, 32, 3), dtype=np.int8))'
"$PYTHON" -c 'import numpy as np; np.load("'"$OUT"'/x.npy").tofile("'"$OUT"'/x.bin")'
"$OUT/project/build/resnet8_host" "$OUT/x.bin" "$OUT/y.bin"
"$PYTHON" -c 'import numpy as np; print("   int8 class scores:"); print(np.fromfile("'"$OUT"'/y.bin", dtype=np.int8).reshape(4, 10))'
echo
echo "== the same inputs through references: onnxruntime (the ONNX file) and, where installed, tflite-micro"
"$PYTHON" - "$MODEL" "$OUT" <<'PY'
import sys
from pathlib import Path
import numpy as np
import onnxruntime as ort
model, out = sys.argv[1], Path(sys.argv[2])
x = np.load(out / "x.npy")
got = np.fromfile(out / "y.bin", dtype=np.int8).reshape(len(x), -1)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
ref = np.stack([session.run(None, {name: xi})[0].reshape(-1) for xi in x])
diff = np.abs(got.astype(int) - ref.astype(int))
print(f"   vs onnxruntime: max |diff| {diff.max()} LSB, {int((diff > 0).sum())} of {diff.size} scores differ, "
      f"top-1 class equal on {int((got.argmax(1) == ref.argmax(1)).sum())} of {len(x)} inputs\n"
      "      (onnxruntime rounds this TFLite conversion in float; tflite-micro is the bit-exact reference)")
tflite = Path("../shared/data/mlperf_tiny/tflite/pretrainedResnet_quant.tflite")
try:
    from tflite_micro import runtime
except ImportError:
    runtime = None
if runtime is None or not tflite.is_file():
    print("   vs tflite-micro: skipped (needs the tflite-micro package and ../shared/data)")
else:
    tflm = runtime.Interpreter.from_file(str(tflite))
    want = []
    for xi in x:
        tflm.set_input(xi, 0)
        tflm.invoke()
        want.append(tflm.get_output(0).reshape(-1))
    same = np.array_equal(got, np.stack(want))
    print(f"   vs tflite-micro: {'identical, byte for byte' if same else 'DIFFERENT'}")
    sys.exit(0 if same else 1)
PY
echo
echo "== tfc run $MODEL --input $OUT/x.npy --raw --output $OUT/y_m7.npy   (the same C on the emulated Cortex-M7)"
"$PYTHON" -m tfc.cli run "$MODEL" --input "$OUT/x.npy" --raw --output "$OUT/y_m7.npy"
"$PYTHON" -c 'import numpy as np, sys
host = np.fromfile("'"$OUT"'/y.bin", dtype=np.int8).reshape(4, 10)
m7 = np.load("'"$OUT"'/y_m7.npy").reshape(4, 10)
same = np.array_equal(host, m7)
print("   emulated Cortex-M7 == host gcc build, byte for byte:", same)
sys.exit(0 if same else 1)'
echo
echo "== tfc bench $MODEL --target cortex-m7   (instructions per layer on the emulated core, flash, SRAM)"
"$PYTHON" -m tfc.cli bench "$MODEL" --target cortex-m7 --json "$OUT/bench.json"
