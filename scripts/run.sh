#!/usr/bin/env bash
# Runs Sluice on this machine: local PostgreSQL and RabbitMQ, a release build,
# migrations, then the API and the worker in one process (`sluice all`).
#
# Any SLUICE_* variable already set in the environment wins over the defaults
# below. SLUICE_OPS_TOKEN is left unset unless you set it, which keeps the
# operator endpoints switched off.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh

# The same URLs scripts/services.sh prints: the Unix socket with peer
# authentication as the current OS user, and the local broker's guest user
# (which RabbitMQ only accepts from localhost).
export SLUICE_DATABASE_URL="${SLUICE_DATABASE_URL:-postgresql:///sluice?host=/var/run/postgresql}"
export SLUICE_AMQP_URL="${SLUICE_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"

cargo build --release --bin sluice
target/release/sluice migrate
# exec: signals (Ctrl-C, a service manager's SIGTERM) reach sluice directly,
# so it can shut down gracefully.
exec target/release/sluice all
