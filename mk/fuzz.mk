# Fuzz every target for $(FUZZTIME) each. Go's native fuzzing needs no cgo.
# Add targets as <package dir>:<FuzzName>.
# A count, not a duration: Go 1.26's fuzz coordinator can report "context deadline exceeded" when a duration
# ends under CPU load although no input failed (golang/go#75804, fixed in Go 1.27); a count has no deadline.
FUZZTIME ?= 300000x
FUZZ_TARGETS ?= \
	./src/lib/httpwire:FuzzParseRequest \
	./src/lib/httpwire:FuzzParseResponse \
	./src/lib/httpwire:FuzzQuery \
	./src/comet/control:FuzzDecode \
	./src/comet/broker:FuzzDecodePacket

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done
