#!/usr/bin/env bash
# Runs one of the benchmarks against local PostgreSQL and RabbitMQ (started
# if missing), with the release build: `scripts/bench.sh imports [-- args]`.
# The README's tables say which benchmark and arguments each figure is from,
# e.g. `scripts/bench.sh imports -- 1000000 --rounds 3 --rollback`.
# To time an earlier commit's build in the same rounds, build it first
# (`git worktree add ../before <commit>`, then `cargo build --release --bin
# sluice` there) and pass `--compare ../before/target/release/sluice`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bench="${1:?which benchmark: imports, pipeline, uploads, vault or load}"
shift
[ "${1:-}" = "--" ] && shift

scripts/services.sh

export SLUICE_TEST_DATABASE_URL="${SLUICE_TEST_DATABASE_URL:-postgresql:///postgres?host=/var/run/postgresql}"
export SLUICE_TEST_AMQP_URL="${SLUICE_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"

exec cargo bench --locked --bench "$bench" -- "$@"
