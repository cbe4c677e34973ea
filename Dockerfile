# Chartroom image: build stage, then a runtime holding only the binary (plus the base's libc and
# CA certificates). Base images are build arguments so they can be substituted (mirrors, pinned
# digests, locally built bases: see scripts/build-image.sh).
ARG BUILD_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
# No debug info in the image (the release profile keeps line tables for local profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --bin chartroom \
 && install -D -m 0755 target/release/chartroom /out/usr/local/bin/chartroom \
 && install -d -m 0755 /out/data

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/usr/local/bin/chartroom /usr/local/bin/chartroom
COPY --from=build --chown=65532:65532 /out/data /data
# Same configuration as the binary: every ChartMuseum environment variable works.
ENV PORT=8080 \
    STORAGE=local \
    STORAGE_LOCAL_ROOTDIR=/data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
# No shell or curl needed: the binary probes its own /health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/chartroom", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/chartroom"]
CMD ["serve"]
