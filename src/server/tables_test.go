package server

import "testing"

func TestTableSizeCappedAtFDLimit(t *testing.T) {
	tests := []struct {
		name             string
		cur, fd, fdLimit int
		want             int
	}{
		{"first growth", 0, 5, 20000, 1024},
		{"doubles", 1024, 1024, 20000, 2048},
		{"doubles past a far fd", 1024, 5000, 20000, 8192},
		{"capped at the fd limit", 16384, 16384, 20000, 20000},
		{"no limit known", 16384, 16384, 0, 32768},
		{"fd at or above the limit still fits", 16384, 20000, 20000, 32768},
		{"small limit", 0, 10, 64, 64},
	}
	for _, tc := range tests {
		got := tableSize(tc.cur, tc.fd, tc.fdLimit)
		if got != tc.want {
			t.Errorf("%s: tableSize(%d, %d, %d) = %d, want %d", tc.name, tc.cur, tc.fd, tc.fdLimit, got, tc.want)
		}
		if got <= tc.fd {
			t.Errorf("%s: size %d does not cover fd %d", tc.name, got, tc.fd)
		}
	}
}
