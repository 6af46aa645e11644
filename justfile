# SmartCourse tasks. `just serve` to run it, `just test` for everything CI checks.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Fetch the models if missing, build in release, import the demo course into a new data directory, and serve
# on http://0.0.0.0:8000 (extra args go to `serve`, e.g. `just serve --data /srv/sc`).
# The release build targets this machine's CPU (AVX2/FMA where it has them: 3-5x faster model kernels); a plain
# `cargo build --release` makes a portable x86-64 binary instead (see README, "Building for other machines").
serve *ARGS: models
    RUSTFLAGS="${RUSTFLAGS:--C target-cpu=native}" cargo build --release --locked
    "${CARGO_TARGET_DIR:-target}/release/smartcourse" serve --demo-if-empty {{ARGS}}

# Everything CI checks: formatting, lints, the whole test suite, and a short fuzzing run of the package readers.
test: test-deps test-models
    cargo fmt --all -- --check
    cargo fmt --manifest-path fuzz/Cargo.toml -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo test --workspace --locked --all-targets
    cargo test --workspace --locked --doc
    just fuzz-ci

# The package readers (Common Cartridge, SCORM, Moodle, Open edX and SmartCourse manifests, Kolibri channel
# databases) and the subtitle reader under cargo fuzz (libFuzzer, coverage-guided), starting from the real
# samples' manifests and small generated channels. A crash fails the run and leaves its input in fuzz/artifacts/
# (replay: `cargo fuzz run --sanitizer none TARGET FILE`).
# Stable Rust: no sanitizer (the readers forbid unsafe code; AddressSanitizer needs nightly).
# A resource blow-up is a failure too, not only a panic: libFuzzer stops an input that takes the process past
# FUZZ_LIMITS' memory (2 GiB, what the package budget's largest figure, `uploads.max_package_bytes`, allows) or
# time (10 s: every budget is reached in well under that).
FUZZ_LIMITS := "-rss_limit_mb=2048 -timeout=10"

# Fuzz the package and subtitle readers for SECS seconds per target.
fuzz SECS="60": fuzz-tools
    cargo fuzz run --sanitizer none manifests fuzz/corpus/manifests -- {{FUZZ_LIMITS}} -max_total_time={{SECS}} -print_final_stats=1
    cargo fuzz run --sanitizer none subtitles fuzz/corpus/subtitles -- {{FUZZ_LIMITS}} -max_total_time={{SECS}} -max_len=8192 -print_final_stats=1
    cargo fuzz run --sanitizer none kolibri fuzz/corpus/kolibri -- {{FUZZ_LIMITS}} -max_total_time={{SECS}} -max_len=65536 -print_final_stats=1

# A fixed seed and a fixed number of inputs per target (about 30 s each here), so a run can be repeated; `just
# fuzz` explores further.
# The fuzzing `just test` (and so CI) runs.
fuzz-ci: fuzz-tools
    cargo fuzz run --sanitizer none manifests fuzz/corpus/manifests -- {{FUZZ_LIMITS}} -seed=1 -runs=100000 -print_final_stats=1
    cargo fuzz run --sanitizer none subtitles fuzz/corpus/subtitles -- {{FUZZ_LIMITS}} -seed=1 -runs=40000 -max_len=8192 -print_final_stats=1
    cargo fuzz run --sanitizer none kolibri fuzz/corpus/kolibri -- {{FUZZ_LIMITS}} -seed=1 -runs=80000 -max_len=65536 -print_final_stats=1

# cargo-fuzz, and the corpus seeded with the samples' manifests and subtitles.
fuzz-tools:
    @command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
    python3 scripts/fuzz_seeds.py

# Fetch the models `serve` uses (models/models.toml) into models/ (skips those already there and verified).
models:
    python3 scripts/models.py fetch --set serve

# Fetch the small models the real-model tests use.
test-models:
    python3 scripts/models.py fetch --set test

# Python packages the test suite runs against (OpenAPI validator, schemathesis).
test-deps:
    @python3 -c 'import openapi_spec_validator, schemathesis, aiosmtpd' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

# Regenerate the README's screenshots in docs/screenshots/ (the demo course in headless Chromium: the lesson on a
# desktop and a phone, the tutor panel while a question waits, the students chart). Not part of `test`.
screenshots:
    SMARTCOURSE_SCREENSHOTS="{{justfile_directory()}}/docs/screenshots" cargo test --locked --test integration browser::screenshots_for_the_readme -- --ignored --exact

# Run the benchmarks (results are written up in BENCHMARKS.md).
bench: models test-models
    python3 scripts/models.py fetch --set bench
    cargo bench --locked

# Build without the tests, for a quick check.
check:
    cargo clippy --workspace --all-targets --locked -- -D warnings
