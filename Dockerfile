# syntax=docker/dockerfile:1
# Production image: one `sluice` binary; the subcommand picks the role
# (`all` by default, or `api`, `worker`, `migrate`, ...).

# --- build -------------------------------------------------------------------
FROM rust:1-bookworm AS build

# diesel's PostgreSQL backend links libpq.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Cache the registry and the target directory between builds (BuildKit). The
# target directory is a cache mount, so the binary is copied out of it within
# the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin sluice \
 && cp target/release/sluice /usr/local/bin/sluice

# --- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim

# libpq5: the binary is linked against it. ca-certificates: TLS to outside
# services (Salesforce, Dropbox, Stripe, managed databases and brokers).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Never run as root; a fixed uid makes volume permissions predictable.
RUN groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice --create-home \
    --shell /usr/sbin/nologin sluice \
 && install -d -m 0700 -o sluice -g sluice /var/lib/sluice/storage

COPY --from=build /usr/local/bin/sluice /usr/local/bin/sluice

USER sluice
WORKDIR /var/lib/sluice

# Inside a container the API must listen on all interfaces to be reachable
# through a published port (the binary's own default is 127.0.0.1).
ENV SLUICE_BIND=0.0.0.0:8080
EXPOSE 8080

ENTRYPOINT ["sluice"]
CMD ["all"]
