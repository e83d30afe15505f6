# A small static image: the operator built for musl (rustls, no OpenSSL),
# on an empty base, running as a non-root user.
#   docker build -t privatelink-operator .
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin privatelink-operator \
 && cp target/x86_64-unknown-linux-musl/release/privatelink-operator /privatelink-operator

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /privatelink-operator /privatelink-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/privatelink-operator"]
CMD ["run"]
