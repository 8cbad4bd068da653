#!/usr/bin/env bash
# Installs what duet needs to build (and, with --test, to test), skipping whatever is already
# there. Everything comes from the package registries: crates.io, npm and Debian.
#
#   scripts/setup.sh          build tools: wasm target, cargo-leptos, wasm-bindgen, wasm-opt
#   scripts/setup.sh --test   also the test tools: Chromium, coturn, Redis and the Playwright package
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=false
[[ "${1:-}" == "--test" ]] && want_test=true

CARGO_LEPTOS_VERSION=0.3.7
export PATH="$PWD/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: '$*' needs root and sudo is not available; run it as root once" >&2
    exit 1
  fi
}

step "Rust: wasm32 target, rustfmt and clippy"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  ok "wasm32-unknown-unknown"
else
  rustup target add wasm32-unknown-unknown
fi
rustup component add rustfmt clippy 2>&1 | sed 's/^/    /'

step "cargo-leptos $CARGO_LEPTOS_VERSION (first install builds it from crates.io: about 15 minutes)"
if [[ "$(cargo leptos --version 2>/dev/null || true)" == *"$CARGO_LEPTOS_VERSION"* ]]; then
  ok "$(cargo leptos --version)"
else
  # Newer cargo-leptos releases lock dependencies that need a newer rustc than this one.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION"
fi

# cargo-leptos runs the first wasm-bindgen on PATH without checking it, and the CLI must match
# the wasm-bindgen crate in Cargo.lock exactly, or the build breaks.
wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
step "wasm-bindgen-cli $wbg_version (matches Cargo.lock; first install: about 5 minutes)"
if [[ "$(wasm-bindgen --version 2>/dev/null || true)" == "wasm-bindgen $wbg_version" ]]; then
  ok "$(wasm-bindgen --version)"
else
  cargo install wasm-bindgen-cli --version "$wbg_version" --force
fi

# wasm-opt from npm's binaryen: Debian's older binaryen makes a release bundle that fails to
# hydrate, and cargo-leptos would otherwise try to download its own.
# The same npm install brings the video screening's runtime and model (nsfwjs, TensorFlow.js
# and its WebAssembly backend), which the site serves itself (README, "Video screening"), and
# `ws` for the benchmarks' second load generator (scripts/node-loadgen.mjs).
step "wasm-opt and the video screening's model (npm, pinned in tools/package-lock.json)"
if [[ -x tools/node_modules/.bin/wasm-opt ]] && [[ -d tools/node_modules/nsfwjs ]] \
  && [[ -d tools/node_modules/ws ]] \
  && [[ tools/node_modules/.package-lock.json -nt tools/package-lock.json ]]; then
  ok "$(wasm-opt --version)"
else
  npm ci --prefix tools --no-audit --no-fund
  ok "$(wasm-opt --version)"
fi
node scripts/screening-assets.mjs | sed 's/^/    /'

if $want_test; then
  step "Chromium, coturn and Redis (Debian packages) for the tests"
  missing=()
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  command -v turnserver >/dev/null || missing+=(coturn)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server redis-tools)
  if [[ ${#missing[@]} -eq 0 ]]; then
    ok "$(/usr/bin/chromium --version 2>/dev/null)"
    ok "coturn $(turnserver --version 2>/dev/null | head -1)"
    ok "$(redis-server --version)"
  else
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    # The packages may start system services; the tests start their own on free ports.
    for service in coturn redis-server; do
      if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
        as_root systemctl stop "$service" || true
      fi
    done
  fi

  step "Playwright (npm, pinned in end2end/package-lock.json; uses Debian's Chromium, downloads no browser)"
  if [[ -d end2end/node_modules/@playwright/test ]] && [[ end2end/node_modules/.package-lock.json -nt end2end/package-lock.json ]]; then
    ok "@playwright/test $(node -p 'require("./end2end/node_modules/@playwright/test/package.json").version')"
  else
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix end2end --no-audit --no-fund
  fi
fi

step "Setup complete"
