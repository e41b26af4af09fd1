#!/usr/bin/env bash
# Installs what tfc needs to build for and run on the emulated Cortex-M7 (tfc.targets.cortex_m):
# the Arm bare-metal GCC with newlib and QEMU's system emulator for Arm. Debian/Ubuntu, as root
# (or with sudo). Idempotent: does nothing when everything is already installed.
set -euo pipefail

# gcc (host) builds the instruction-counting QEMU plugin.
bash "$(dirname "$0")/apt-install.sh" gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc
arm-none-eabi-gcc --version | head -n 1
qemu-system-arm --version | head -n 1
