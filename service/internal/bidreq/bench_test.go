package bidreq

import (
	"testing"
	"time"

	"asap/service/internal/adquery"
)

const benchQuery = "pkey=demo-feed&uid=6D92078A-8246-4BA4-AE5B-76104861E7DC&appId=com.example.news&appName=Example+News" +
	"&appVersion=4.2.1&creative_key=ck-1&w=300&h=250&os=iOS&osv=17.4&make=Apple&model=iPhone15%2C2&gdpr=1" +
	"&gdpr_consent=CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA&us_privacy=1YNN&lmt=0"

// BenchmarkBuildBidRequest parses the SDK's query, maps it and encodes the
// BidRequest: ASAP's work before the upstream is called.
func BenchmarkBuildBidRequest(b *testing.B) {
	p := feedPlacement()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		q, err := adquery.Parse(benchQuery)
		if err != nil {
			b.Fatal(err)
		}
		r := adquery.Request{Query: q, UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", IP: "203.0.113.77"}
		if buf, err = Append(buf[:0], Build(&r, p, "0b1c8a9e-6f53-4a4e-9d6f-2f7c3d1e5a44", 250*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
}
