#!/usr/bin/env bash
# Fuzz the RETS parsers: every target in connectors/rets/fuzz/fuzz_targets/ runs under
# cargo-fuzz (libFuzzer, AddressSanitizer) for a bounded time. Not part of CI.
#
#   scripts/fuzz-rets.sh [SECONDS]      # seconds per target, default 60
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, -Cpasses=sancov-module); the script
# sets RUSTC_BOOTSTRAP=1 so that a stable toolchain accepts them. It installs cargo-fuzz with
# `cargo install cargo-fuzz` when it is missing. Seeds come from the shared RETS fixtures
# (SWITCHBOARD_SHARED_DIR, default ../shared); the corpus grows under
# $CARGO_TARGET_DIR/fuzz/corpus/<target> (default connectors/rets/fuzz/corpus/<target>). A
# crash is written to connectors/rets/fuzz/artifacts/<target>/ with the command that replays
# it, the other targets still run, and the script exits non-zero.
set -euo pipefail

seconds="${1:-60}"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$script_dir/.." && pwd)"
fuzz_dir="$repo/connectors/rets/fuzz"
shared="${SWITCHBOARD_SHARED_DIR:-$repo/../shared}"
fixtures="$shared/fixtures/rets"
exec </dev/null

export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

target_args=()
corpus_root="$fuzz_dir/corpus"
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    target_args=(--target-dir "$CARGO_TARGET_DIR/fuzz")
    corpus_root="$CARGO_TARGET_DIR/fuzz/corpus"
fi

# Seed files for a target: the fixtures of the replies it reads.
seeds_of() {
    case "$1" in
        compact)
            ls "$fixtures"/librets/project/librets/test/src/resources/search-response*.xml \
                "$fixtures"/librets/project/librets/test/src/resources/raw-search \
                "$fixtures"/estately-rets/extracted/*.xml
            ;;
        multipart)
            ls "$fixtures"/librets/project/librets/test/src/resources/get-object-response-*.txt \
                "$fixtures"/estately-rets/extracted/*.multipart
            ;;
    esac 2>/dev/null || true
}

cd "$repo"
status=0
for source in "$fuzz_dir"/fuzz_targets/*.rs; do
    name="$(basename "$source" .rs)"
    corpus="$corpus_root/$name"
    mkdir -p "$corpus"
    while read -r seed; do
        [[ -n "$seed" ]] && cp -n "$seed" "$corpus/" 2>/dev/null || true
    done < <(seeds_of "$name")
    echo "== fuzzing $name for ${seconds}s (corpus $corpus, $(ls "$corpus" | wc -l) files)" >&2
    if ! cargo fuzz run --fuzz-dir "$fuzz_dir" "${target_args[@]}" "$name" "$corpus" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1; then
        echo "== $name FAILED: see connectors/rets/fuzz/artifacts/$name/" >&2
        status=1
    fi
done
exit "$status"
