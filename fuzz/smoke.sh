#!/usr/bin/env bash
# A short libFuzzer smoke of every fuzz target (run by .ci/run): builds the
# targets with cargo-fuzz and runs each for a few seconds from its seed
# corpus, so a regression that crashes at once fails CI. Fuzzing proper is
# longer runs by hand (README, "Fuzzing"; figures in fuzz/RUNS.md).
#
# What works here: cargo-fuzz 0.13 with `-s none` (no sanitizer) builds and
# runs on the stable toolchain (its flags are stable: -Cpasses=sancov-module
# and -Cllvm-args); the sanitizers (the default `-s address`) need nightly.
#
# Budget: the whole smoke stops after QCC_FUZZ_SMOKE_BUDGET seconds (default
# 180). A first build of the targets takes about 8 minutes on a 2-core
# machine (Cranelift, egg and the rest, in release with coverage
# instrumentation), so on a new machine the smoke skips, saying so; the
# build's products are kept in QCC_FUZZ_TARGET_DIR (default
# ~/.cache/qcc/fuzz-target), and a later run reuses them and goes on. The
# seed corpora and every regression are also replayed without a fuzzer by
# `cargo test` (testsuite/tests/fuzz_regressions.rs).
#
# QCC_FUZZ_SMOKE=0 skips the smoke; QCC_FUZZ_SECONDS sets each target's run
# (default 6).
set -uo pipefail
cd "$(dirname "$0")"

if [ "${QCC_FUZZ_SMOKE:-1}" = 0 ]; then
  echo "fuzz smoke: skipped (QCC_FUZZ_SMOKE=0)"
  exit 0
fi
budget=${QCC_FUZZ_SMOKE_BUDGET:-180}
seconds=${QCC_FUZZ_SECONDS:-6}
targets=(parse_verify onnx_raw onnx_mutate npy differential)
target_dir=${QCC_FUZZ_TARGET_DIR:-$HOME/.cache/qcc/fuzz-target}
deadline=$(( $(date +%s) + budget ))
left() { echo $(( deadline - $(date +%s) )); }

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz smoke: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  if ! timeout "$(left)" cargo install cargo-fuzz --locked --quiet; then
    echo "fuzz smoke: skipped: cargo-fuzz could not be installed within the budget"
    echo "  (install it by hand: cargo install cargo-fuzz --locked)"
    exit 0
  fi
fi

mkdir -p "$target_dir"
echo "fuzz smoke: building the targets (cargo fuzz build -s none -a, in $target_dir)"
timeout "$(left)" cargo fuzz build -s none -a --target-dir "$target_dir"
rc=$?
if [ $rc = 124 ] || [ $rc = 137 ]; then
  echo "fuzz smoke: skipped: building the fuzz targets did not finish within the ${budget} s budget"
  echo "  (a first build takes ~8 min here; what was built is kept in $target_dir for the next run)"
  exit 0
elif [ $rc != 0 ]; then
  echo "fuzz smoke: the fuzz targets do not build" >&2
  exit 1
fi

bin="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  if [ "$(left)" -lt $(( seconds + 5 )) ]; then
    echo "fuzz smoke: $t: skipped (out of budget)"
    continue
  fi
  if "$bin/$t" "$work/$t" "corpus/$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=4096 -artifact_prefix="$work/" >"$work/$t.log" 2>&1; then
    echo "fuzz smoke: $t: ok ($(grep -o 'Done [0-9]* runs' "$work/$t.log" | head -1))"
    passed=$((passed + 1))
  else
    echo "fuzz smoke: $t: FAILED" >&2
    tail -40 "$work/$t.log" >&2
    for a in "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$work"/leak-*; do
      [ -e "$a" ] && echo "  reproducer (base64): $(base64 -w0 "$a")" >&2
    done
    failed=$((failed + 1))
  fi
done
echo "fuzz smoke: $passed targets ran clean, $failed failed"
[ $failed = 0 ]
