#!/usr/bin/env bash
# Installs the Debian packages given as arguments that are not installed yet (as root, or with
# sudo); does nothing when all are. Waits for another apt/dpkg to release its lock instead of failing.
# Exit status 0 when everything is installed afterwards.
set -euo pipefail

missing=()
for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "already installed: $*"
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
LOCK=(-o DPkg::Lock::Timeout=600)
for attempt in $(seq 1 60); do
    if $SUDO apt-get "${LOCK[@]}" update -qq; then
        break
    fi
    if [ "$attempt" -eq 60 ]; then
        echo "apt-get update failed 60 times (lock held for 10 minutes?)" >&2
        exit 1
    fi
    echo "apt-get update failed (is another apt running?); retrying in 10 s" >&2
    sleep 10
done
$SUDO apt-get "${LOCK[@]}" install -y -qq --no-install-recommends "${missing[@]}"
