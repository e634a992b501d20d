#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, then runs
# formatting, lints and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# A fixed cache outside the clone keeps CI rebuilds incremental; override to relocate.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgerloop-target}"

need_apt=()
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
# The report test renders report.html in headless Chromium.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing: ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
