#!/usr/bin/env bash
# Starts `ckptd run` on config/demo-live.toml, watching demo/live/ (created empty here).
# In a second terminal: scripts/fake-trainer.py demo/live/bert-run
# Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf demo/live demo/state
mkdir -p demo/live
echo "ckptd is watching $(pwd)/demo/live; now run: scripts/fake-trainer.py demo/live/bert-run" >&2
exec cargo run --quiet -- run --config config/demo-live.toml
