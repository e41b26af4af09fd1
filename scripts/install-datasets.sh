#!/usr/bin/env bash
# Installs the real data sets nas/ reads from Debian's packages: Fashion-MNIST (60,000 + 10,000
# 28x28 images, IDX files under /usr/share/datasets/fashion-mnist: tfc-nas run --data fashion-mnist).
# Debian/Ubuntu, as root (or with sudo). Idempotent.
set -euo pipefail
bash "$(dirname "$0")/apt-install.sh" dataset-fashion-mnist
ls /usr/share/datasets/fashion-mnist
