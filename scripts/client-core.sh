#!/usr/bin/env bash
# Build the browser component's core module (kernel/component without `full`: world `client`)
# for a cargo profile (`wasm`, or `wasm-names` for scripts/wasm-bytes.sh) and print its path.
#
# With a pinned nightly it rebuilds `std` for size (`-Zbuild-std-features=optimize_for_size`:
# the small variants of its sorts and the like) with panics as immediate aborts (no panic
# messages, locations or formatting linked): about a tenth fewer gzip bytes than stable
# (docs/PERFORMANCE.md, where the speed of both builds is compared too). The toolchain is
# installed here (rustup, minimal profile, with rust-src); if that fails, or with
# MIZAN_CLIENT_STABLE=1, the build is the stable one (same code, a larger module).
# Only this component: the full kernel and the hosts stay on stable.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-wasm}
nightly=nightly-2026-05-20
args=(-p mizan-kernel-component --target wasm32-unknown-unknown --profile "$profile" --no-default-features)

have_nightly() {
  rustup run "$nightly" rustc --version >/dev/null 2>&1 &&
    rustup component list --toolchain "$nightly" --installed 2>/dev/null | grep -q '^rust-src' &&
    rustup target list --toolchain "$nightly" --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'
}

if [ "${MIZAN_CLIENT_STABLE:-}" != 1 ] && {
  have_nightly ||
    rustup toolchain install "$nightly" --profile minimal --component rust-src --target wasm32-unknown-unknown >/dev/null 2>&1
}; then
  # A target dir of its own: the rebuilt std and these RUSTFLAGS must not invalidate the stable
  # builds in target/.
  dir=target/client-nightly
  # std's own code (the allocator, memcpy, formatting, float parsing) at opt-level 3 as in the
  # prebuilt std, not the profile's `z`: `z` there made the session measurably slower (its
  # generic code, instantiated in our crates, follows the profile either way).
  std_o3=()
  for crate in std core alloc dlmalloc compiler_builtins; do
    std_o3+=(--config "profile.$profile.package.$crate.opt-level=3")
  done
  if RUSTFLAGS='-Zunstable-options -Cpanic=immediate-abort' cargo +"$nightly" build --quiet "${args[@]}" \
    --target-dir "$dir" -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size "${std_o3[@]}" >&2; then
    echo "$dir/wasm32-unknown-unknown/$profile/mizan_kernel_component.wasm"
    exit 0
  fi
  echo "warning: the $nightly build of the browser component failed; building it with stable Rust" >&2
else
  echo "note: the browser component is built with stable Rust ($nightly not wanted or not available): a larger module" >&2
fi
cargo build --quiet "${args[@]}" >&2
echo "target/wasm32-unknown-unknown/$profile/mizan_kernel_component.wasm"
