#!/usr/bin/env bash
# Fuzzes every parser that takes outside bytes with libFuzzer (AddressSanitizer on, so leaks and
# memory errors fail too), each for FUZZ_SECONDS (default 60), starting from the committed corpus
# in Fuzz/Corpus/NAME. A crash, leak or timeout fails the run and leaves the input under
# .build/fuzz-findings/NAME/. Executions per fuzzer are printed at the end (docs/fuzzing.md).
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh [NAME...]    (NAME: wire virtual-hid codes enrollment-csv pskc browser-input radius usbip)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
fuzzers=("$@")
[ ${#fuzzers[@]} -eq 0 ] && fuzzers=(wire virtual-hid codes enrollment-csv pskc browser-input radius usbip)
flags=(--scratch-path .build/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DOTPTOKEN_FUZZING -Xswiftc -use-ld=lld)
rm -f .build/fuzz/debug/otptoken-fuzz
swift build "${flags[@]}" --product otptoken-fuzz 2>&1 | grep -E "error" || true
[ -x .build/fuzz/debug/otptoken-fuzz ] || { echo "fuzz: otptoken-fuzz did not build" >&2; exit 1; }
summary=()
status=0
# Known leaks of the toolchain's own libraries (not ours) are listed, with why, in this file.
export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan-suppressions.txt:print_suppressions=0"
# libFuzzer reports crashes itself; Swift's backtracer would only race it.
export SWIFT_BACKTRACE=enable=no
for name in "${fuzzers[@]}"; do
  findings=.build/fuzz-findings/$name
  grown=$(mktemp -d)
  rm -rf "$findings" && mkdir -p "$findings"
  log=$findings/log.txt
  # The committed corpus is read, never written: new inputs go to a scratch folder.
  if OTPTOKEN_FUZZER=$name .build/fuzz/debug/otptoken-fuzz "$grown" "Fuzz/Corpus/$name" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    summary+=("$name: $runs executions in ${seconds} s, no crash, leak or timeout")
  else
    status=1
    summary+=("$name: FAILED, see $log and $findings/")
    tail -30 "$log" >&2
  fi
  rm -rf "$grown"
done
printf '%s\n' "${summary[@]}"
exit $status
