# syntax=docker/dockerfile:1
#
# driftd container image.
#
#   docker build -t driftd .
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
# .dockerignore leaves .git out, so `driftd version` reports "(devel)".
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/driftd ./cmd/driftd

# ---- run -------------------------------------------------------------------
# distroless/static: CA certificates (for DRIFTD_TLS_ENABLED against a
# public-CA Kafka), tzdata and /etc/passwd with the "nonroot" user, and
# nothing else — no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/driftd /usr/local/bin/driftd

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
