package flood

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkReportRoundTrip is one child report's encoding (child) and decoding (coordinator) with n latency buckets:
// 250 is about what a child fills in one 250 ms report during a broadcast, 10,000 what a long broadcast leaves in a
// cumulative histogram (the reports sent before the children sent only the counts since their previous one).
func BenchmarkReportRoundTrip(b *testing.B) {
	for _, n := range []int{250, 10_000} {
		b.Run(fmt.Sprintf("buckets=%d", n), func(b *testing.B) {
			h := NewLatHist()
			for i := 0; i < n; i++ {
				h.Add(float64(i + 1))
			}
			r := ChildReport{Proc: 1, Established: 19_900, PushHist: bucketsOf(h.counts), HoldHist: Buckets{{0, 19_900}}}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				line, err := json.Marshal(r)
				if err != nil {
					b.Fatal(err)
				}
				var back ChildReport
				if err := json.Unmarshal(line, &back); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
