#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install tfc with its test extras and run the fast
# tests with the Hypothesis `ci` profile. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# nas: the tests of nas/ (digits from scikit-learn, progress bars, the report's plot) run in CI too
"$PYTHON" -m pip install --quiet -e ".[test,nas]"
# ray: tfc-nas run --ray (tests/nas/test_scale.py runs a local Ray instance); a Python that Ray has
# no wheel for skips those tests, saying so
"$PYTHON" -m pip install --quiet -e ".[ray]" || echo "scripts/test.sh: Ray did not install: the --ray tests skip" >&2
# The Arm toolchain and QEMU (emulated Cortex-M7 tests) come from Debian's packages.
bash scripts/install-target-tools.sh
# Fashion-MNIST (Debian dataset-fashion-mnist): tests/nas read the real files when they are there.
bash scripts/install-datasets.sh
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
exec "$PYTHON" -m pytest -m "not slow" -q "$@"
