# syntax=docker/dockerfile:1
#
# ASAP image for an ECS stack (staging or production), built from the repository root.
# `pulumi up --stack staging` builds it and pushes it to the stack's ECR repository
# itself; production runs the digest staging verified and is never rebuilt
# (docs/deployment.md). To build one by hand:
#
#   make image ENV=staging      # docker build --platform linux/amd64 -f docker/staging.Dockerfile \
#                               #   --build-arg VERSION=$(git rev-parse --short=12 HEAD) .
#
# docker/staging.Dockerfile and docker/production.Dockerfile are identical but for the
# ASAP_ENV line; infra/delivery's tests keep them so. The task definition runs the
# container health check ["CMD", "/asap", "healthcheck"] (the image has no shell or curl).

# The build runs on the builder's own platform and cross-compiles for the target one.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
WORKDIR /src/service
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
# Modules first: this layer is reused until go.mod or go.sum change.
COPY service/go.mod service/go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY service/ ./
ARG TARGETOS TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/asap .
# The demo ad server: staging's tasks run it beside ASAP as their upstream (infra/service.go);
# production carries it too, unused, so that production can run the very image staging verified.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o /out/adserver ./cmd/adserver

# distroless/static: CA certificates and tzdata, no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/asap /asap
COPY --from=build /out/adserver /adserver
ENV ASAP_ENV=staging
EXPOSE 8080
# 65532 is distroless's "nonroot" user, numeric so a runtime can verify it is not root.
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/asap", "healthcheck"]
ENTRYPOINT ["/asap"]
CMD ["serve"]
