#!/usr/bin/env bash
# Everything CI checks, in order: formatting, lints, then the test suite
# against real PostgreSQL and RabbitMQ. Stops at the first failing step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Services (PostgreSQL, RabbitMQ, cargo-nextest, Chromium)"
scripts/services.sh --with-nextest --with-browser

# Tests create a fresh database per test from this server URL; any SLUICE_TEST_*
# variable already set wins.
export SLUICE_TEST_DATABASE_URL="${SLUICE_TEST_DATABASE_URL:-postgresql:///postgres?host=/var/run/postgresql}"
export SLUICE_TEST_AMQP_URL="${SLUICE_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Builds the test binaries once; the fault run below reuses them.
step "Tests (all but fault_*)"
cargo nextest run --workspace --locked --no-fail-fast -E 'not test(/::fault_/)'

# The fault tests stop and restart the shared RabbitMQ broker, which would
# break any test running beside them: run them after everything else, one at
# a time. When the tree has none, say so and skip the run, so that the last
# test summary printed is the main run's rather than "0 tests run"
# (--no-tests=pass still keeps an empty match from failing the step).
step "Fault tests (fault_*, one at a time)"
fault_tests=$(cargo nextest list --workspace --locked -E 'test(/::fault_/)' --message-format oneline | wc -l)
if [ "$fault_tests" -eq 0 ]; then
    echo "No fault_* tests in this tree; nothing to run."
else
    # Their logs are shown only if one fails, to tell what the broker did.
    SLUICE_TEST_LOG="${SLUICE_TEST_LOG:-info,lapin=warn,amq_protocol=warn}" \
        cargo nextest run --workspace --locked --no-fail-fast -j 1 --no-tests=pass -E 'test(/::fault_/)'
fi
