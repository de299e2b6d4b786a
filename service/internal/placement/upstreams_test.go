package placement_test

import (
	"math"
	"strings"
	"testing"

	"asap/service/internal/placement"
)

func TestAdUpstreams(t *testing.T) {
	tests := []struct {
		name        string
		ad          string
		wantBidders []string
		wantAdjust  []float64
		wantErr     string
	}{
		{name: "one upstream", ad: `"upstream": "primary"`, wantBidders: []string{"primary"}, wantAdjust: []float64{1}},
		{name: "an auction", ad: `"upstreams": [{"name": "primary"}, {"name": "exchange-b", "bidAdjustment": 0.9}]`,
			wantBidders: []string{"primary", "exchange-b"}, wantAdjust: []float64{1, 0.9}},
		{name: "an auction of one", ad: `"upstreams": [{"name": "primary", "bidAdjustment": 1.2}]`,
			wantBidders: []string{"primary"}, wantAdjust: []float64{1.2}},
		{name: "both forms", ad: `"upstream": "primary", "upstreams": [{"name": "b"}]`, wantErr: "upstream and upstreams are both set"},
		{name: "both, the list empty", ad: `"upstream": "primary", "upstreams": []`, wantErr: "upstream and upstreams are both set"},
		{name: "neither", ad: `"native": true`, wantErr: "ad.upstream is empty"},
		{name: "empty list", ad: `"upstreams": []`, wantErr: "ad.upstreams is empty"},
		{name: "name missing", ad: `"upstreams": [{"bidAdjustment": 1}]`, wantErr: "ad.upstreams[0].name is empty"},
		{name: "a URL", ad: `"upstreams": [{"name": "http://evil.example/"}]`, wantErr: `ad.upstreams[0].name "http://evil.example/"`},
		{name: "twice", ad: `"upstreams": [{"name": "a"}, {"name": "b"}, {"name": "a"}]`, wantErr: `ad.upstreams[2].name "a" is already ad.upstreams[0]`},
		{name: "adjustment 0", ad: `"upstreams": [{"name": "a", "bidAdjustment": 0}]`, wantErr: "ad.upstreams[0].bidAdjustment 0"},
		{name: "negative adjustment", ad: `"upstreams": [{"name": "a", "bidAdjustment": -1}]`, wantErr: "ad.upstreams[0].bidAdjustment -1"},
		{name: "typo in a bidder", ad: `"upstreams": [{"name": "a", "bidAdjustement": 2}]`, wantErr: `unknown field "bidAdjustement"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := placement.Decode([]byte(`[{"pkey": "p", "status": "OK", "ad": {"banner": [{"w": 300, "h": 250}], ` + tt.ad + `}}]`))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v; want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			bidders := ps[0].Ad.Bidders()
			if len(bidders) != len(tt.wantBidders) {
				t.Fatalf("got %d bidders; want %v", len(bidders), tt.wantBidders)
			}
			for i, b := range bidders {
				if b.Name != tt.wantBidders[i] || b.Adjustment() != tt.wantAdjust[i] {
					t.Errorf("bidder %d: %s ×%v; want %s ×%v", i, b.Name, b.Adjustment(), tt.wantBidders[i], tt.wantAdjust[i])
				}
			}
		})
	}
	nan := math.NaN()
	p := placement.Placement{PKey: "p", Status: "OK", Ad: &placement.Ad{Native: true,
		Upstreams: []placement.Bidder{{Name: "a", BidAdjustment: &nan}}}}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "bidAdjustment NaN") {
		t.Errorf("NaN adjustment: error %v", err)
	}
}

// FuzzAdUpstreams: the ad section's upstreams come from outside. Whatever they
// hold, an accepted record names at least one upstream, each well-formed and
// once, each with a positive finite adjustment.
func FuzzAdUpstreams(f *testing.F) {
	for _, s := range []string{
		`"upstream": "primary"`,
		`"upstreams": [{"name": "primary"}, {"name": "exchange-b", "bidAdjustment": 0.9}]`,
		`"upstream": "a", "upstreams": [{"name": "b"}]`,
		`"upstreams": []`, `"upstreams": null`, `"upstreams": [null]`, `"upstreams": [{"name": "a"}, {"name": "a"}]`,
		`"upstreams": [{"name": "a", "bidAdjustment": 1e308}, {"name": "b", "bidAdjustment": 5e-324}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ad string) {
		ps, err := placement.Decode([]byte(`[{"pkey": "p", "status": "OK", "ad": {"native": true, ` + ad + `}}]`))
		if err != nil {
			return
		}
		a := ps[0].Ad
		if (a.Upstream != "") == (len(a.Upstreams) > 0) {
			t.Fatalf("accepted %q: upstream %q and %d upstreams; want exactly one form", ad, a.Upstream, len(a.Upstreams))
		}
		bidders := a.Bidders()
		if len(bidders) == 0 {
			t.Fatalf("accepted %q without an upstream", ad)
		}
		seen := map[string]bool{}
		for _, b := range bidders {
			if !placement.KeyPattern.MatchString(b.Name) || seen[b.Name] {
				t.Fatalf("accepted %q: bidder %q", ad, b.Name)
			}
			seen[b.Name] = true
			if adj := b.Adjustment(); !(adj > 0) || math.IsInf(adj, 0) {
				t.Fatalf("accepted %q: adjustment %v", ad, adj)
			}
		}
	})
}
