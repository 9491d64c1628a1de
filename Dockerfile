# One image holding both binaries: the operator (Deployment) and the restorer (restore Jobs).
#   docker build -t aerospike-restore:latest .
# Not built in this repository's CI (no container engine there); keep it simple.

# ---- build ----
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
# rust-toolchain.toml pins 1.95.0, the image's toolchain; clippy/rustfmt are not needed here.
ENV RUSTUP_TOOLCHAIN=1.95.0 \
    CARGO_TERM_COLOR=never
COPY . .
RUN cargo build --release --locked -p operator -p restorer --bin operator --bin restorer \
 && install -D -m 0755 target/release/operator /out/operator \
 && install -D -m 0755 target/release/restorer /out/restorer

# ---- runtime ----
# distroless "cc" has glibc and libgcc (the binaries link them dynamically); the :nonroot tag
# runs as uid/gid 65532, the user the operator's Job and Deployment also request.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/operator /usr/local/bin/operator
COPY --from=build /out/restorer /usr/local/bin/restorer
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/operator"]
