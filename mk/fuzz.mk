# Fuzz every target for $(FUZZTIME) each. Go's native fuzzing needs no cgo.
# Add targets as <package dir>:<FuzzName>.
FUZZTIME ?= 10s
FUZZ_TARGETS ?= \
	./src/lib/httpwire:FuzzParseRequest \
	./src/lib/httpwire:FuzzParseResponse \
	./src/lib/httpwire:FuzzQuery \
	./src/comet/control:FuzzDecode

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done
