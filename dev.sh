#!/usr/bin/env bash
# The project's two commands, each installing what is missing first (idempotent):
#   ./dev.sh serve   build and serve the demo on http://127.0.0.1:8080
#   ./dev.sh test    fmt, clippy, native tests, browser tests (wasm-pack), page end-to-end test
# Other entry points: ./dev.sh setup | build | e2e | bench | coldstart | soak | quality [method] | screenshots
set -euo pipefail
cd "$(dirname "$0")"

# One persistent build cache outside the clone: a warm run takes minutes, not a 20-minute burn build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/flowmap/target}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
# Browser tests train for real; the default 20 s per test is too short on 2 cores.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
export PATH="$HOME/.cargo/bin:$PATH"

TRUNK_VERSION=0.21.14
WASM_PACK_VERSION=0.15.1
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)

# Each phase's heading says how long the one before it took and the time so far (where a first
# run's minutes go: issue 23).
PHASE_AT=$SECONDS
say() {
  local took=$((SECONDS - PHASE_AT)); PHASE_AT=$SECONDS
  printf '\n\033[1m== %s\033[0m  (previous phase %dm%02ds, %dm%02ds in all)\n' "$*" \
    $((took / 60)) $((took % 60)) $((SECONDS / 60)) $((SECONDS % 60))
}

have_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q "$2"; }

# The three tools build from crates.io source into one shared target directory, so the
# dependencies they share (clap, tokio, serde, ...) compile once; without LTO or debug info, and
# unoptimized but for the crates that read and write wasm: trunk and wasm-pack only orchestrate,
# and their build time matters here, not their speed (issue 23). Measured on wasm-bindgen-cli
# alone (docs/first-run.md): 2.5 CPU-minutes to build instead of 4.0, and 4.2 s instead of 3.6 s
# to process the page's module; fully unoptimized, that step took 3-8x longer.
WASM_CRATES="walrus wasmparser wasm-encoder gimli leb128 id-arena hashbrown indexmap wasm-bindgen-shared
  wasm-bindgen-cli-support wasm-bindgen-wasm-interpreter wasm-bindgen-wasm-conventions
  wasm-bindgen-multi-value-xform wasm-bindgen-threads-xform wasm-bindgen-externref-xform"
tool_install() {
  local optimized=() crate
  for crate in $WASM_CRATES; do optimized+=(--config "profile.release.package.$crate.opt-level=3"); done
  CARGO_TARGET_DIR="$HOME/.cache/flowmap/tools" CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 cargo "${optimized[@]}" install "$@"
}

# What the page needs: the Rust targets, trunk and the wasm-bindgen CLI (./dev.sh serve, build).
setup_build() {
  say "setup: Rust targets, trunk, wasm-bindgen (skips what is already installed)"
  setup_rust
  install_page_tools
}
setup_rust() {
  rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  rustup component list --installed | grep -q rustfmt || rustup component add rustfmt clippy
}
install_page_tools() {
  # No default features: those are TLS (rustls) and the crates.io update check, and Trunk.toml
  # says offline and serves plain HTTP on 127.0.0.1; 16 fewer crates to build (issue 23).
  have_version trunk "$TRUNK_VERSION" || tool_install trunk --version "$TRUNK_VERSION" --locked --no-default-features
  # Must equal the wasm-bindgen in Cargo.lock. Not --locked: its lockfile wants a crate the
  # registry mirror lacks.
  have_version wasm-bindgen "$WASM_BINDGEN_VERSION" || tool_install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
}

# The browsers (apt) and the test scripts' npm packages download while cargo compiles: they
# need the network and the disk, the compiles need the cores.
BROWSERS_PID=""
fetch_browsers() {
  (
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v firefox-esr >/dev/null; then
      sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
      $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver firefox-esr
    fi
    if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -d tests/e2e/node_modules/puppeteer-core ]; then
      (cd tests/e2e && npm ci --no-audit --no-fund)
    fi
    # TypeScript for the type check of www/ (package.json; checks only, nothing is compiled).
    if [ ! -d node_modules/typescript ] || [ ! -d node_modules/@webgpu/types ]; then
      npm ci --no-audit --no-fund
    fi
  ) > "$HOME/.cache/flowmap/browsers.log" 2>&1 &
  BROWSERS_PID=$!
}
wait_browsers() {
  join_setup_job "$BROWSERS_PID" browsers "setup: browsers and npm packages (fetched in the background since the start)"
  BROWSERS_PID=""
}

# Waits for a background setup job (pid, the name of its log, a heading); prints its log if it failed.
join_setup_job() {
  [ -n "$1" ] || return 0
  say "$3"
  if ! wait "$1"; then cat "$HOME/.cache/flowmap/$2.log"; echo "setup failed: $2 (log above)" >&2; exit 1; fi
}

# The three tools, built in the background while the lints and the native tests compile: a
# cargo build leaves a core idle for minutes at a time (one large crate, the link, the test run),
# and the tools' builds fill those gaps; nothing before the browser tests needs them. Their own
# target directory keeps them off this crate's build lock. On a fresh machine the tools, the
# lints and the native tests took 14:21 this way, 18:19 one after the other (issue 23,
# docs/first-run.md).
TOOLS_PID=""
build_tools_in_background() {
  (
    install_page_tools
    have_version wasm-pack "$WASM_PACK_VERSION" || tool_install wasm-pack --version "$WASM_PACK_VERSION" --locked
  ) > "$HOME/.cache/flowmap/tools.log" 2>&1 &
  TOOLS_PID=$!
}
wait_tools() {
  join_setup_job "$TOOLS_PID" tools "setup: trunk, wasm-bindgen, wasm-pack (built in the background since the start)"
  TOOLS_PID=""
}

# Everything ./dev.sh test needs: the page's tools, wasm-pack, the browsers, the npm packages.
# Both downloads and tool builds go on in the background; wait_tools and wait_browsers join them.
setup() {
  mkdir -p "$HOME/.cache/flowmap"
  fetch_browsers
  say "setup: Rust targets and lint tools (skips what is already installed)"
  setup_rust
  build_tools_in_background
}

build_site() {
  say "trunk build --release (dist/)"
  trunk build --release
}

run_e2e() {
  build_site
  wait_browsers
  say "types: tsc --noEmit over www/*.js (// @ts-check) against the .d.ts wasm-bindgen wrote into dist/"
  npx --no-install tsc -p tsconfig.json
  npx --no-install tsc -p tsconfig.node.json # the trunk hooks (www/*.mjs), under Node.js
  say "end-to-end: the built page in headless Chromium, served from a subpath"
  node tests/e2e/page.mjs
  say "end-to-end: the core checks in headless Firefox ESR (WebDriver BiDi)"
  node tests/e2e/firefox.mjs
  say "end-to-end: nothing lost (resume after reload, dead worker, hostile calls, divergence, device loss)"
  node tests/e2e/reliability.mjs
  say "end-to-end: a panel on several workers (count, bit-identical replicas, a dead replica, resume, divergence)"
  node tests/e2e/workers.mjs
  say "end-to-end: the views (ODE rows, density and KL map, warped grid, paths, file targets, phone)"
  node tests/e2e/views.mjs
  say "end-to-end: auto on a software WebGPU adapter never stalls the run (90 s)"
  node tests/e2e/auto.mjs
}

case "${1:-}" in
  setup) setup; wait_tools; wait_browsers ;;
  serve)
    setup_build
    say "serving the demo on http://127.0.0.1:8080 once the page's module is built (Ctrl-C stops)"
    # The page first: the WebGPU module's first build goes on in the background
    # (www/webgpu-module.mjs), and WebGPU is used once it lands.
    FLOWMAP_WEBGPU_LATER=1 trunk serve --release
    ;;
  build) setup_build; build_site ;;
  e2e) setup; wait_tools; run_e2e ;;
  test)
    setup
    say "rustfmt"; cargo fmt --all -- --check
    say "clippy (native and wasm32)"
    # Natively without wgpu: no native test uses it, and its code is all behind the feature
    # webgpu, which the wasm32 check below covers; skipping Burn's native wgpu stack saves
    # minutes on a fresh machine (docs/tests.md).
    cargo clippy --release --all-targets --no-default-features --features cli -- -D warnings
    # The page's CPU module, and the WebGPU module as shipped (fusion).
    cargo clippy --release --target wasm32-unknown-unknown --no-default-features --lib --tests -- -D warnings
    cargo clippy --release --target wasm32-unknown-unknown --no-default-features --features fusion --lib --tests -- -D warnings
    say "native tests"; cargo test --release --no-default-features --features cli
    wait_tools
    wait_browsers
    say "browser tests (wasm-pack test --headless --chrome)"
    # The WebGPU module's feature set (fusion): the site build below reuses this Burn build.
    wasm-pack test --headless --chrome --chromedriver "$CHROMEDRIVER" --release --no-default-features --features fusion --test web
    run_e2e
    say "all tests passed"
    ;;
  bench)
    setup; wait_tools
    say "benchmark: native"; cargo run --release --bin flowmap -- bench
    build_site; wait_browsers
    say "benchmark: in headless Chromium"; node tests/e2e/bench.mjs speed flex ndarray
    # No relaxed-SIMD module: macerator 0.5.2 (under Burn) does not compile with +relaxed-simd
    # (docs/speed.md, "Relaxed SIMD").
    # WebGPU without fusion is not shipped: build it beside the site for the comparison (one
    # more Burn build the first time).
    cargo build --release --target wasm32-unknown-unknown --no-default-features --features webgpu --lib
    wasm-bindgen --target web --no-typescript --out-dir dist --out-name flowmap_unfused \
      "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/flowmap.wasm"
    say "WebGPU calls per step, fusion off (flowmap_unfused.js) and on (flowmap_gpu.js); SwiftShader: counts, not speed"
    node tests/e2e/bench.mjs gpu webgpu
    ;;
  coldstart)
    setup; wait_tools; build_site; wait_browsers
    say "cold start: bytes and time to the first sample and step, empty cache, loopback and 10 Mbit/s"
    node tests/e2e/coldstart.mjs
    ;;
  soak)
    setup; wait_tools; build_site; wait_browsers
    say "soak: ${SOAK_MINUTES:-30} minutes of training, switching and saving; memory must stay flat"
    node tests/e2e/soak.mjs
    ;;
  screenshots)
    setup; wait_tools; build_site; wait_browsers
    say "README screenshots of each view (docs/view-*.png)"
    node tests/e2e/screenshots.mjs
    ;;
  quality)
    # ./dev.sh quality [lsd|psd-mid|psd-uniform|esd]; EXTRA='&psd_space=x' overrides the recipe.
    setup; wait_tools; build_site; wait_browsers
    say "time to quality in headless Chromium (browser default recipe, ${2:-lsd}, CPU)"
    METHOD="${2:-lsd}" node tests/e2e/bench.mjs quality flex
    ;;
  *) sed -n '2,5p' "$0"; exit 2 ;;
esac
