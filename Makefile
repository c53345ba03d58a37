# comet-lab: `make lab` runs the experiment, `make test` runs every test.
SHELL := /bin/bash
export CGO_ENABLED ?= 0
export GOFLAGS ?= -mod=mod
GO ?= go
BINARIES := comet comet-broker flood report labmon bench labplan

.PHONY: all build vet test test-go test-race fuzz deps clean
all: build

build:
	@mkdir -p bin
	$(GO) build -trimpath -o bin/ $(addprefix ./src/cmd/,$(BINARIES))

vet:
	@out=$$(gofmt -l src); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	@# Roles (docs/architecture.md): lab tools and test kits are never linked into comet or flood.
	@if $(GO) list -deps ./src/cmd/comet ./src/cmd/flood | grep -E '/src/(lab|testkit)/'; then \
		echo "src/lab or src/testkit linked into comet or flood"; exit 1; fi
	@# The NATS client lives in comet-broker only: every comet process (master and workers) would pay for it.
	@if $(GO) list -deps ./src/cmd/comet | grep -E 'nats-io'; then \
		echo "the NATS client is linked into comet (it belongs in comet-broker)"; exit 1; fi

# The conformance suite (it starts nginx) runs in its own target, test-conformance (mk/conformance.mk).
# COMETLAB_REQUIRE_NGINX: the tests against nginx + nchan (src/flood) fail instead of skipping without them.
GO_PKGS = $$($(GO) list ./... | grep -v /src/testkit/conformance)
test-go: build
	COMETLAB_REQUIRE_NGINX=1 $(GO) test -count=1 -timeout 15m $(GO_PKGS)

# Packages with goroutines that share state.
RACE_PKGS ?= $(GO_PKGS)
test-race:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 15m $(RACE_PKGS)

deps:
	scripts/deps.sh

test: deps vet test-go test-race fuzz test-conformance lint-lab test-lab

clean:
	rm -rf bin

include $(wildcard mk/*.mk)
