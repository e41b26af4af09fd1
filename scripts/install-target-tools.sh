#!/usr/bin/env bash
# Installs what tfc needs to build for and run on the emulated Cortex-M7 (tfc.targets.cortex_m):
# the Arm bare-metal GCC with newlib and QEMU's system emulator for Arm. Debian/Ubuntu, as root
# (or with sudo). Idempotent: does nothing when everything is already installed.
set -euo pipefail

# gcc (host) builds the instruction-counting QEMU plugin.
PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "target tools already installed: ${PACKAGES[*]}"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg (unattended-upgrades, a second CI job) may hold the locks: wait for them
# (up to 10 minutes) instead of failing. DPkg::Lock::Timeout covers the dpkg frontend lock; the
# retry loop covers `apt-get update`'s lists lock on apt versions that do not apply it there.
LOCK_WAIT=(-o DPkg::Lock::Timeout=600)
for attempt in $(seq 1 60); do
    if $SUDO apt-get "${LOCK_WAIT[@]}" update -qq; then
        break
    fi
    if [ "$attempt" -eq 60 ]; then
        echo "apt-get update failed 60 times (lock held for 10 minutes?)" >&2
        exit 1
    fi
    echo "apt-get update failed (is another apt running?); retrying in 10 s" >&2
    sleep 10
done
$SUDO apt-get "${LOCK_WAIT[@]}" install -y -qq --no-install-recommends "${missing[@]}"
arm-none-eabi-gcc --version | head -n 1
qemu-system-arm --version | head -n 1
