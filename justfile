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

# Everything CI checks: formatting, lints, and the whole test suite.
test: test-deps test-models
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo test --workspace --locked --all-targets
    cargo test --workspace --locked --doc

# Fetch the models `serve` uses (models/models.toml) into models/ (skips those already there and verified).
models:
    python3 scripts/models.py fetch --set serve

# Fetch the small models the real-model tests use.
test-models:
    python3 scripts/models.py fetch --set test

# Python packages the test suite runs against (OpenAPI validator, schemathesis).
test-deps:
    @python3 -c 'import openapi_spec_validator, schemathesis, aiosmtpd' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

# Run the benchmarks (results are written up in BENCHMARKS.md).
bench: models test-models
    python3 scripts/models.py fetch --set bench
    cargo bench --locked

# Build without the tests, for a quick check.
check:
    cargo clippy --workspace --all-targets --locked -- -D warnings
