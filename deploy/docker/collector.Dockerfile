# syntax=docker/dockerfile:1
# fleetlog-collector image: built from the repository root,
#   docker build -f deploy/docker/collector.Dockerfile -t fleetlog-collector .
# Runtime: distroless (glibc, CA certificates, no shell, no package manager), user nonroot.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p fleetlog-collector --bin fleetlog-collector \
    && install -D -m 0755 target/release/fleetlog-collector /out/usr/bin/fleetlog-collector \
    && install -d -m 0750 /out/var/lib/fleetlog-collector

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/bin/fleetlog-collector /usr/bin/fleetlog-collector
# The data dir (SQLite, segment archive, development CA, tokens) belongs to nonroot (65532).
COPY --from=build --chown=65532:65532 /out/var/lib/fleetlog-collector /var/lib/fleetlog-collector
USER 65532:65532
WORKDIR /var/lib/fleetlog-collector
ENV FLEETLOG_DATA_DIR=/var/lib/fleetlog-collector \
    FLEETLOG_QUIC_LISTEN=0.0.0.0:4433 \
    FLEETLOG_HTTP_LISTEN=0.0.0.0:8080 \
    RUST_LOG=info
VOLUME ["/var/lib/fleetlog-collector"]
EXPOSE 4433/udp 8080/tcp
# No shell or curl in the image: the binary probes its own /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/bin/fleetlog-collector", "probe", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/bin/fleetlog-collector"]
CMD ["serve", "--log-json"]
