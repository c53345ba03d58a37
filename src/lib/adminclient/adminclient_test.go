package adminclient

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestStats(t *testing.T) {
	tests := []struct {
		name      string
		token     string // sent by the client
		status    int
		body      string
		wantConns uint64
		wantErr   string
	}{
		{"comet's document", "", 200, `{"engine":"netpoll","procs":2,"conns":7,"held":5,"workers":[{"pid":9}]}`, 7, ""},
		{"with the token", "s3cret", 200, `{"engine":"goroutine","conns":3}`, 3, ""},
		{"refused", "", 401, `unauthorized`, 0, "401"},
		{"not comet", "", 200, `{"conns":3}`, 0, "no engine"},
		{"garbage", "", 200, `{"engine":`, 0, "admin /stats"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gotAuth, gotPath string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.Path
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			st, err := Stats(srv.Client(), srv.URL, tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Conns != tc.wantConns {
				t.Errorf("conns %d, want %d", st.Conns, tc.wantConns)
			}
			if gotPath != "/stats" {
				t.Errorf("path %q, want /stats", gotPath)
			}
			if want := map[bool]string{true: "Bearer " + tc.token, false: ""}[tc.token != ""]; gotAuth != want {
				t.Errorf("Authorization %q, want %q", gotAuth, want)
			}
		})
	}
}
