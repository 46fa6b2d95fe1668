# Builds stamped with the version and commit they come from. `go build` and
# `go run` work too (they report what the Go toolchain recorded, see
# cmd/driftd/version.go); these targets are for binaries and images that
# leave this checkout.
#
#   make build            ./driftd, stamped (CGO off, static)
#   make image            the container image driftd:$(VERSION), stamped and OCI-labelled
#   make version          print what would be stamped
#   make licenses         regenerate THIRD_PARTY_LICENSES and NOTICE from the module graph
#   make chart-test       helm lint, and the chart's tests (deploy/helm)

VERSION ?= $(shell git describe --tags --always --dirty --match 'v[0-9]*' 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
CREATED ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
IMAGE   ?= driftd
GO      ?= go
HELM    ?= helm

LDFLAGS := -s -w -X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT)

.PHONY: build image version licenses chart-test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o driftd ./cmd/driftd

image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg CREATED=$(CREATED) \
		-t $(IMAGE):$(VERSION) .

version:
	@echo "version $(VERSION)"
	@echo "commit  $(COMMIT)"

licenses:
	cd .ci/licenses && $(GO) run . -root ../.. -write

chart-test:
	$(HELM) lint --strict deploy/helm/driftd
	cd deploy/helm && $(GO) test ./...
