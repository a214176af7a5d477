#!/usr/bin/env bash
# Every fuzz target for a bounded time, each from its kept corpus (corpus/<target>), with
# coverage-guided libFuzzer through cargo fuzz. A crash, a panic or a broken property fails
# the run and leaves the input under target/fuzz/artifacts/<target>/.
#
#   e2e-tests/fuzz/run.sh [seconds per target]
#
# cargo-fuzz is installed into target/tools when it is not on PATH. The build has no
# sanitizer (-s none: the address sanitizer needs a nightly compiler, and the code fuzzed
# is safe Rust); it is optimized, with libFuzzer's coverage instrumentation, debug
# assertions and overflow checks. New inputs found go to target/fuzz/corpus, not into the repository;
# `cargo fuzz cmin` merges them into corpus/ when worth keeping (see README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
fuzz_dir=e2e-tests/fuzz
out=target/fuzz

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  if [ ! -x target/tools/bin/cargo-fuzz ]; then
    cargo install --quiet --locked cargo-fuzz --version 0.13.2 --root target/tools
  fi
  export PATH="$PWD/target/tools/bin:$PATH"
fi

fuzz() { cargo fuzz "$1" --fuzz-dir "$fuzz_dir" --target-dir "$out/build" -s none -O -a "${@:2}"; }

fuzz build
for target in $(cargo fuzz list --fuzz-dir "$fuzz_dir"); do
  mkdir -p "$out/corpus/$target" "$out/artifacts/$target"
  printf '\n--- %s, %s s\n' "$target" "$seconds"
  status=0
  fuzz run "$target" "$out/corpus/$target" "$fuzz_dir/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/artifacts/$target/" -print_final_stats=1 \
    >"$out/$target.log" 2>&1 || status=$?
  grep -E '^(#[0-9]+\s+(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb)|panicked|ERROR|SUMMARY|Test unit written' \
    "$out/$target.log" || true
  if [ "$status" -ne 0 ] || [ -n "$(ls -A "$out/artifacts/$target")" ]; then
    tail -n 40 "$out/$target.log" >&2
    echo "$target failed (exit $status); any input that did it is in $out/artifacts/$target" >&2
    exit 1
  fi
done
