#!/usr/bin/env bash
# Installs the real data sets nas/ reads from Debian's packages: Fashion-MNIST (60,000 + 10,000
# 28x28 images, IDX files under /usr/share/datasets/fashion-mnist). Debian/Ubuntu, as root (or with
# sudo). Idempotent. Waits for another apt/dpkg to finish instead of failing on its lock.
set -euo pipefail

PACKAGES=(dataset-fashion-mnist)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "data sets already installed: ${PACKAGES[*]}"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
LOCK=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${LOCK[@]}" update -qq
$SUDO apt-get "${LOCK[@]}" install -y -qq --no-install-recommends "${missing[@]}"
ls -l /usr/share/datasets/fashion-mnist
