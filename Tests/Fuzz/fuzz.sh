#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/Package.swift, over Sources/SluiceFuzzTargets) with
# AddressSanitizer and runs each for a bounded time over its seed corpus.
#
#   Tests/Fuzz/fuzz.sh [--seconds N] [--scratch-path DIR] [--no-build] [--merge-into-fixtures] [TARGET...]
#
# TARGET is one of http-parser api-requests pipeline-file prefix segment-recovery kpl (default:
# all, one after another). Seeds are read from Fixtures/fuzz/<target>/ and
# Fixtures/fuzz/regressions/<target>/ and never written; new corpus entries go to
# <scratch>/corpus/<target>/, crashing inputs to <scratch>/artifacts/<target>/<time>/. With
# --merge-into-fixtures, the inputs that add coverage are merged into Fixtures/fuzz/<target>/
# at the end (review them before committing). Talks to no network; every run is bounded by
# -max_total_time plus a hard timeout.
#
# Exit status: 0 when no target found anything, 1 when a target crashed, broke an invariant,
# leaked, timed out on an input or ran out of memory (the input's path is printed), 2 on a
# usage or build error.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
all_targets=(http-parser api-requests pipeline-file prefix segment-recovery kpl)
seconds=60
scratch="$root/.build-fuzz"
build=1
merge=0
targets=()

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case "$1" in
        --seconds) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || { echo "fuzz.sh: --seconds needs a positive number" >&2; exit 2; }
                   seconds="$2"; shift 2 ;;
        --scratch-path) [[ $# -ge 2 ]] || { echo "fuzz.sh: --scratch-path needs a directory" >&2; exit 2; }
                   scratch="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
        --no-build) build=0; shift ;;
        --merge-into-fixtures) merge=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *)
            if [[ " ${all_targets[*]} " != *" $1 "* ]]; then
                echo "fuzz.sh: unknown target $1; targets: ${all_targets[*]}" >&2
                exit 2
            fi
            targets+=("$1"); shift ;;
    esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")

# MARK: - Build

bin="$scratch/debug"
if ((build)); then
    started=$SECONDS
    for target in "${targets[@]}"; do
        log="$scratch/build-fuzz-$target.log"
        mkdir -p "$scratch"
        # One product at a time: the root package's own executables must not get libFuzzer's main.
        if ! swift build --package-path "$root/Tests/Fuzz" --scratch-path "$scratch" --product "fuzz-$target" \
            -Xswiftc -sanitize=fuzzer,address >"$log" 2>&1; then
            grep -v 'ld.gold: warning' "$log" | grep -E 'error|warning: ' | head -20 >&2
            echo "fuzz.sh: building fuzz-$target failed; full log: $log" >&2
            exit 2
        fi
    done
    echo "fuzz.sh: built ${#targets[@]} fuzzers in $((SECONDS - started)) s"
fi

# MARK: - Run

# Scratch stores of the targets go to tmpfs when there is one (fsync is then nearly free).
if [[ -d /dev/shm && -w /dev/shm ]]; then tmp_parent=/dev/shm; else tmp_parent="${TMPDIR:-/tmp}"; fi
fuzz_tmp="$(mktemp -d "$tmp_parent/sluice-fuzz.XXXXXX")"
trap 'rm -rf "$fuzz_tmp"' EXIT

failed=()
summary=()
for target in "${targets[@]}"; do
    exe="$bin/fuzz-$target"
    [[ -x "$exe" ]] || { echo "fuzz.sh: $exe is missing; run without --no-build" >&2; exit 2; }
    corpus="$scratch/corpus/$target"
    artifacts="$scratch/artifacts/$target/$(date -u +%Y%m%dT%H%M%SZ)"
    log="$scratch/fuzz-$target.log"
    mkdir -p "$corpus" "$artifacts" "$fuzz_tmp/$target"
    seeds=("$root/Fixtures/fuzz/$target")
    [[ -d "$root/Fixtures/fuzz/regressions/$target" ]] && seeds+=("$root/Fixtures/fuzz/regressions/$target")
    options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1
        -artifact_prefix="$artifacts/")
    # These two keep one scratch store for the whole run; LeakSanitizer's report at exit then
    # lists parts of that live store (reached only through Swift enum payloads, whose spare-bit
    # tags hide the pointers), so their leak check is off. The other targets keep it.
    asan="abort_on_error=0"
    case "$target" in api-requests|segment-recovery) options+=(-detect_leaks=0); asan+=":detect_leaks=0" ;; esac
    echo "fuzz.sh: $target for $seconds s (log: $log)"
    # The first corpus directory receives new entries; the seed directories are only read.
    # SWIFT_BACKTRACE: Swift's crash backtracer trips AddressSanitizer itself; libFuzzer prints the stack.
    TMPDIR="$fuzz_tmp/$target/" ASAN_OPTIONS="$asan" SWIFT_BACKTRACE=enable=no timeout --kill-after=10 $((seconds + 120)) \
        "$exe" "${options[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1
    status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'exec/s: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    summary+=("$(printf '%-18s %10s runs %8s exec/s  cov %6s  exit %s' "$target" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$status")")
    if ((status != 0)); then
        found=$(ls -1 "$artifacts" 2>/dev/null | sed "s|^|$artifacts/|")
        grep -E 'ERROR: |Fatal error|invariant broken|SUMMARY' "$log" | head -5 >&2
        echo "fuzz.sh: $target failed (exit $status); inputs: ${found:-none saved}; log: $log" >&2
        failed+=("$target")
    fi
    if ((merge)) && ((status == 0)); then
        "$exe" -merge=1 -rss_limit_mb=2048 -max_len=8192 "$root/Fixtures/fuzz/$target" "$corpus" >>"$log" 2>&1 \
            || echo "fuzz.sh: merging $target into Fixtures failed; see $log" >&2
    fi
done

printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "fuzz.sh: FAILED: ${failed[*]}. Reproduce: <scratch>/debug/fuzz-<target> <input>; keep the input as" \
        "Fixtures/fuzz/regressions/<target>/<name> so swift test replays it." >&2
    exit 1
fi
echo "fuzz.sh: no failures"
