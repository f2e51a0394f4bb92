#!/usr/bin/env bash
# Starts `ckptd run` on config/demo-live.toml, watching demo/live/ (created empty here).
# The binary is built first (or an installed `ckptd` is used with CKPTD=ckptd), so the daemon
# starts at once; when it logs `ckptd ready`, run in a second terminal:
#   scripts/fake-trainer.py demo/live/bert-run
# Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CKPTD:-}" ]; then
  bin=$(command -v "$CKPTD")
else
  echo "building ckptd (the first build takes a few minutes; later ones are instant)…" >&2
  cargo build --locked --release --quiet
  # Where cargo put it, CARGO_TARGET_DIR and .cargo/config.toml included.
  target_dir=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  bin=$target_dir/release/ckptd
fi
rm -rf demo/live demo/state
mkdir -p demo/live
echo "starting $bin; when it logs \`ckptd ready\`, run in another terminal:" >&2
echo "  scripts/fake-trainer.py demo/live/bert-run" >&2
echo "(until then ckptd WARNs that no run directory matches its glob yet: expected)" >&2
echo "for the one-shot commands after this demo: export PATH=\"$(dirname "$bin"):\$PATH\"" >&2
exec "$bin" run --config config/demo-live.toml
