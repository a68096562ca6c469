# syntax=docker/dockerfile:1
# fleetlog-agent image: built from the repository root,
#   docker build -f deploy/docker/agent.Dockerfile -t fleetlog-agent .
# Runtime: distroless (glibc, no shell, no package manager), user nonroot by default.
# To read a host's root-owned logs (/var/log/pods) run it as uid 0 with every capability
# dropped and a read-only root file system (deploy/k8s does).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p fleetlog-agent --bin fleetlog-agent \
    && install -D -m 0755 target/release/fleetlog-agent /out/usr/bin/fleetlog-agent \
    && install -d -m 0750 /out/var/lib/fleetlog-agent

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/bin/fleetlog-agent /usr/bin/fleetlog-agent
COPY --from=build --chown=65532:65532 /out/var/lib/fleetlog-agent /var/lib/fleetlog-agent
USER 65532:65532
WORKDIR /var/lib/fleetlog-agent
ENV FLEETLOG_DATA_DIR=/var/lib/fleetlog-agent \
    FLEETLOG_METRICS_LISTEN=0.0.0.0:9464 \
    RUST_LOG=info
VOLUME ["/var/lib/fleetlog-agent"]
EXPOSE 9464/tcp
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/bin/fleetlog-agent", "probe", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["/usr/bin/fleetlog-agent"]
CMD ["run", "--log-json"]
