# `make test-conformance`: the hostile-input suite (docs/conformance.md) against comet netpoll, comet goroutine and
# nginx + nchan on loopback. nginx and the nchan module are required (scripts/deps.sh installs them): missing, the
# target fails naming what is missing. -parallel: the probes wait on sockets, not on the CPU.
# `make conformance-doc`: rewrite the generated table in docs/conformance.md from src/testkit/conformance.
NCHAN_MODULE ?= /usr/lib/nginx/modules/ngx_nchan_module.so
.PHONY: test-conformance conformance-doc
test-conformance:
	@missing=""; \
	command -v nginx >/dev/null || missing="nginx (Debian package nginx)"; \
	[ -f $(NCHAN_MODULE) ] || missing="$${missing:+$$missing and }the nchan module $(NCHAN_MODULE) (Debian package libnginx-mod-nchan)"; \
	if [ -n "$$missing" ]; then echo "test-conformance: missing $$missing; run scripts/deps.sh" >&2; exit 1; fi
	$(GO) test -count=1 -timeout 5m -parallel 32 ./src/testkit/conformance

conformance-doc:
	$(GO) test -count=1 -run '^TestDoc$$' ./src/testkit/conformance -update
