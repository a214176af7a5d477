# Multi-stage build of the cdp binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p cdp && strip target/release/cdp

FROM debian:bookworm-slim
# curl only for the container health checks (readiness is GET /readyz).
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 cdp && mkdir -p /var/lib/cdp && chown cdp /var/lib/cdp
COPY --from=build /src/target/release/cdp /usr/local/bin/cdp
USER cdp
ENV CDP_HTTP_ADDR=0.0.0.0:8080 CDP_DATA_DIR=/var/lib/cdp CDP_LOG_FORMAT=json
EXPOSE 8080
# SIGTERM: stop accepting, finish requests in flight, let the projector commit, exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["cdp"]
CMD ["serve"]
