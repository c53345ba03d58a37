# `make report RUN=results/<run-id>`: summary.json, report.md and charts for one run,
# then the results/README.md index of all runs.
.PHONY: report
report: bin/report
	@if [ -z "$(RUN)" ]; then echo "report: set RUN=results/<run-id>"; exit 1; fi
	bin/report -run $(RUN)
	bin/report -index results

bin/report: $(shell find src/lab/report src/cmd/report -name '*.go' 2>/dev/null) go.mod
	@mkdir -p bin
	$(GO) build -trimpath -o bin/report ./src/cmd/report
