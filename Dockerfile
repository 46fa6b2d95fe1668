# syntax=docker/dockerfile:1
#
# driftd container image.
#
#   make image        (= docker build with the build arguments below, from git)
#   docker build -t driftd --build-arg VERSION=$(git describe --tags --always --dirty) --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run --rm -e DRIFTD_BROKERS=kafka:9092 -p 9108:9108 driftd          # the daemon
#   docker run --rm -p 9108:9108 driftd demo --http-addr :9108                # self-contained demo
#
# The daemon is configured only by DRIFTD_* environment variables (see the
# README); docker-compose.yml runs it next to Kafka, Prometheus and Grafana.

# ---- build -----------------------------------------------------------------
# go.mod asks for go 1.26.8: the 1.26 image is that release or newer.
FROM golang:1.26 AS build
WORKDIR /src

# Dependencies first, so source edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
# Static binary: no cgo, so it runs on distroless/static (no libc).
# .dockerignore leaves .git out, so the version and commit come in as build
# arguments (`make image` sets them from git); without them `driftd
# version` reports "(devel)" and commit "unknown".
ARG VERSION=""
ARG COMMIT=""
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X main.buildVersion=${VERSION} -X main.buildCommit=${COMMIT}" \
      -o /out/driftd ./cmd/driftd

# ---- run -------------------------------------------------------------------
# distroless/static: CA certificates (for DRIFTD_TLS_ENABLED against a
# public-CA Kafka), tzdata and /etc/passwd with the "nonroot" user, and
# nothing else — no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot

# OCI image annotations (github.com/opencontainers/image-spec, annotations.md).
ARG VERSION=""
ARG COMMIT=""
ARG CREATED=""
LABEL org.opencontainers.image.title="driftd" \
      org.opencontainers.image.description="Streaming drift detection for ML models in production, on Kafka" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/driftd/driftd" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

COPY --from=build /out/driftd /usr/local/bin/driftd
# The licence, the notices and the third-party licences travel with the binary.
COPY LICENSE NOTICE THIRD_PARTY_LICENSES /usr/share/doc/driftd/

# nonroot = 65532:65532 in distroless; numeric so that runAsNonRoot
# policies (Kubernetes) can verify it without reading /etc/passwd.
USER 65532:65532

# /metrics, /healthz, /ready (DRIFTD_HTTP_ADDR defaults to :9108).
EXPOSE 9108

# No HEALTHCHECK: distroless has no shell, curl or wget to run one, and
# driftd has no health-probe subcommand. Probe GET /healthz (liveness) and
# GET /ready (readiness: group joined, references loaded) from the
# orchestrator instead — Kubernetes httpGet probes, or Prometheus `up`.

ENTRYPOINT ["/usr/local/bin/driftd"]
CMD ["run"]
