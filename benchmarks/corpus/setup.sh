#!/usr/bin/env bash
# Creates the corpus builder's venv (tensorflow, tf2onnx, transformers, torch) under the cache,
# apart from the global environment. Idempotent: a venv whose requirements stamp matches is kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TFC_CORPUS_CACHE:-$HOME/.cache/tfc-corpus}"
venv="$cache/venv"
stamp="$venv/.requirements"
if [ -f "$stamp" ] && cmp -s "$stamp" "$here/requirements.txt"; then
    echo "corpus venv up to date: $venv"; exit 0
fi
mkdir -p "$cache"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip==24.3.1
"$venv/bin/pip" install --quiet -r "$here/requirements.txt"
"$venv/bin/pip" freeze > "$cache/freeze.txt"
cp "$here/requirements.txt" "$stamp"
echo "corpus venv ready: $venv (versions in $cache/freeze.txt)"
