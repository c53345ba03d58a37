# flood: user-space memory per held connection (one child, 10k conns against an in-test server).
.PHONY: flood-mem
flood-mem:
	FLOOD_MEASURE=1 $(GO) test -count=1 -run TestMeasurePSSPerConn -v ./src/flood/
