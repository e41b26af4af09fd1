#!/usr/bin/env bash
# The main job, from a fresh machine: install tfc, import the bundled demo model (MLPerf Tiny
# ResNet-8, int8), run the pipeline with IR dumps, print the final IR and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

"$PYTHON" -m pip install --quiet -e .

OUT="${OUT_DIR:-out/demo}"
MODEL="$("$PYTHON" -c 'import tfc.data; print(tfc.data.DEMO_MODEL)')"
mkdir -p "$OUT"
echo "== imported IR (before any pass): $OUT/imported.tfcir"
"$PYTHON" -m tfc.cli inspect "$MODEL" > "$OUT/imported.tfcir"
echo "   $(grep -c ' = ' "$OUT/imported.tfcir") ops"
echo
echo "== tfc compile $MODEL --target cortex-m7 --dump-ir $OUT/dumps"
"$PYTHON" -m tfc.cli compile "$MODEL" --target cortex-m7 --dump-ir "$OUT/dumps" --print-ir -v
