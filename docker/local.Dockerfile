# syntax=docker/dockerfile:1
#
# ASAP image for a developer's machine (ASAP_ENV=local-docker): docker/compose.yaml runs
# it beside Redis and the demo ad server. Built from the repository root:
#
#   make image ENV=local
#   docker compose -f docker/compose.yaml up --build
#
# It is the staging/production image plus the admin port (9090: /metrics, and with
# ASAP_DEBUG=true /debug/pprof/ and /debug/vars) and a lower Go memory limit, as the
# original team lowered the JVM heap locally. The "adserver" target is the demo ad server.

# Modules and sources, on the builder's own platform (the builds cross-compile).
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS source
WORKDIR /src/service
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
COPY service/go.mod service/go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY service/ ./

FROM source AS build
ARG TARGETOS TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/asap .

FROM source AS adserver-build
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o /out/adserver ./cmd/adserver

# The demo ad server: docker build --target adserver -f docker/local.Dockerfile .
FROM gcr.io/distroless/static-debian12:nonroot AS adserver
COPY --from=adserver-build /out/adserver /adserver
EXPOSE 8081
USER 65532:65532
ENTRYPOINT ["/adserver"]
CMD ["-addr", ":8081", "-fill", "0.8", "-latency", "20ms"]

# ASAP, the default (last) target.
FROM gcr.io/distroless/static-debian12:nonroot AS asap
COPY --from=build /out/asap /asap
ENV ASAP_ENV=local-docker ASAP_DEBUG=true GOMEMLIMIT=256MiB
EXPOSE 8080 9090
USER 65532:65532
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["/asap", "healthcheck"]
ENTRYPOINT ["/asap"]
CMD ["serve"]
