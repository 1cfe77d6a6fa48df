#!/usr/bin/env bash
# Fuzz the kernel's input surfaces (kernel/fuzz, docs/RELIABILITY.md).
#
#   scripts/fuzz.sh TARGET SECONDS     one target; its corpus grows in kernel/fuzz/corpus/TARGET
#   scripts/fuzz.sh --smoke [SECONDS]  every target for SECONDS (default 4) each, unoptimized: the
#                                      test suite's run (scripts/test.sh)
#   scripts/fuzz.sh --list             the targets
#
# Installs what it needs: the nightly toolchain (rustup, minimal profile; libFuzzer's coverage
# instrumentation needs it) and cargo-fuzz (cargo install). Builds with debug assertions and
# overflow checks and without a sanitizer: the kernel is safe Rust, so the fuzzer looks for
# panics, overflows and broken invariants, and runs ~2x faster without AddressSanitizer.
# A crash leaves its input in kernel/fuzz/artifacts/TARGET/; reproduce it with
#   cargo +nightly fuzz run --fuzz-dir kernel/fuzz -s none TARGET kernel/fuzz/artifacts/TARGET/crash-…
# and turn it into a regression test in kernel/tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_dir=kernel/fuzz
targets=(header kdl registry_json token plan store)

if [ "${1:-}" = --list ]; then printf '%s\n' "${targets[@]}"; exit 0; fi

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >/dev/null
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz >/dev/null 2>&1

profile=()  # the default: release with debug assertions and overflow checks
build() { cargo +nightly fuzz build --fuzz-dir "$fuzz_dir" -s none "${profile[@]}" "$@"; }

# Extra read-only seed corpora per target (the IR fixtures for the KDL reader).
seeds() {
  case "$1" in
    kdl) echo tests/fixtures/ir ;;
  esac
}

# Run one target for $2 seconds on corpus $3 (default: its own, kept between runs); print its
# figures as one line.
run() {
  local target=$1 seconds=$2 corpus=${3:-$fuzz_dir/corpus/$1} log
  mkdir -p "$corpus" "$fuzz_dir/artifacts/$target"
  log=$(mktemp)
  # shellcheck disable=SC2046
  if ! cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" -s none "${profile[@]}" "$target" "$corpus" $(seeds "$target") -- \
      -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 >"$log" 2>&1; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -20 >&2
    rm -f "$log"
    echo "fuzz $target: CRASH (input in $fuzz_dir/artifacts/$target/)"
    return 1
  fi
  local execs rate
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  rm -f "$log"
  echo "fuzz $target: ${seconds}s, $execs execs, $rate exec/s, corpus $(find "$corpus" -type f | wc -l) inputs, 0 crashes"
  [ -z "${3:-}" ] || rm -rf "$corpus"
}

if [ "${1:-}" = --smoke ]; then
  seconds=${2:-4}
  profile=(--dev)  # compiles in a fraction of the time; a few seconds need no speed
  build >/dev/null 2>&1 || { build; exit 1; }
  failed=0
  # A fresh corpus each time: replaying a large one left by long runs would take minutes.
  for t in "${targets[@]}"; do run "$t" "$seconds" "$(mktemp -d)" || failed=$((failed + 1)); done
  echo "fuzz smoke: $((${#targets[@]} - failed)) passed, $failed failed"
  [ "$failed" = 0 ]
else
  [ $# = 2 ] || { sed -n '2,8p' "$0"; exit 2; }
  build "$1" >/dev/null 2>&1 || { build "$1"; exit 1; }
  run "$1" "$2"
fi
