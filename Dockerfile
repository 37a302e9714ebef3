# syntax=docker/dockerfile:1
#
# hookline in a container: a Rust builder stage compiles the release binary, a slim Debian
# runtime stage runs it as an unprivileged user with its data (SQLite database, generated
# master key, local media) on a volume.
#
#   docker build -t hookline .
#   docker run -p 8080:8080 -v hookline-data:/var/lib/hookline hookline
#
# On a fresh volume the first start prints the admin API key once (`docker logs`).
# For PostgreSQL pass HOOKLINE_DATABASE_URL and HOOKLINE_MASTER_KEY with `-e`.

FROM rust:1-slim-bookworm AS builder
WORKDIR /build
# Cargo.toml asks for an edition 2024 toolchain (rust-version); the image's stable is newer.
COPY . .
# The caches keep the registry and the compiled dependencies between builds; the binary is
# copied out of the cached target directory, which is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin hookline \
 && cp target/release/hookline /usr/local/bin/hookline

FROM debian:bookworm-slim
# ca-certificates: outbound webhooks and the Bot API verify TLS against the system roots.
# curl: the HEALTHCHECK below.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hookline \
 && useradd --system --uid 10001 --gid hookline --home-dir /var/lib/hookline --shell /usr/sbin/nologin hookline \
 && install -d -m 0700 -o hookline -g hookline /var/lib/hookline
COPY --from=builder /usr/local/bin/hookline /usr/local/bin/hookline

USER hookline:hookline
WORKDIR /var/lib/hookline
# A new named volume takes the directory's owner and mode from the image, so the data stays
# private to the hookline user.
VOLUME ["/var/lib/hookline"]
ENV HOOKLINE_DATA_DIR=/var/lib/hookline \
    HOOKLINE_LISTEN=0.0.0.0:8080
EXPOSE 8080

# /health answers 200 while the process serves requests. If HOOKLINE_LISTEN is changed,
# change the port here too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/health || exit 1

ENTRYPOINT ["/usr/local/bin/hookline"]
CMD ["serve"]
