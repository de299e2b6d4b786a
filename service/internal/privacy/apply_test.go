package privacy

import (
	"encoding/json"
	"slices"
	"testing"

	"asap/service/internal/openrtb"
)

func ptr[T any](v T) *T { return &v }

func fullRequest() *openrtb.BidRequest {
	return &openrtb.BidRequest{ID: "r",
		Device: &openrtb.Device{IFA: "ifa-1", IP: "203.0.113.77", Geo: &openrtb.Geo{Lat: ptr(52.520008), Lon: ptr(13.404954), Country: "DEU"}, OS: "ios"},
		User: &openrtb.User{ID: "u", BuyerUID: "b", Consent: "CQ", EIDs: []openrtb.EID{{Source: "s", UIDs: []openrtb.UID{{ID: "x"}}}},
			Data: []openrtb.Data{{ID: "d"}}},
	}
}

func TestApply(t *testing.T) {
	for _, c := range []struct {
		name        string
		req         *openrtb.BidRequest
		d           Decision
		want        string // the device and user as JSON
		wantRemoved []string
	}{
		{"nothing to do", fullRequest(), Decision{},
			`{"device":{"geo":{"lat":52.520008,"lon":13.404954,"country":"DEU"},"ip":"203.0.113.77","os":"ios","ifa":"ifa-1"},"user":{"id":"u","buyeruid":"b","consent":"CQ","data":[{"id":"d"}],"eids":[{"source":"s","uids":[{"id":"x"}]}]}}`, nil},
		{"ids removed", fullRequest(), Decision{RemoveIDs: true},
			`{"device":{"geo":{"lat":52.520008,"lon":13.404954,"country":"DEU"},"ip":"203.0.113.77","os":"ios"},"user":{"consent":"CQ"}}`,
			[]string{"device.ifa", "user.id", "user.buyeruid", "user.eids", "user.data"}},
		{"geo coarsened", fullRequest(), Decision{CoarsenGeo: true},
			`{"device":{"geo":{"lat":52.52,"lon":13.4,"country":"DEU"},"ip":"203.0.113.0","os":"ios","ifa":"ifa-1"},"user":{"id":"u","buyeruid":"b","consent":"CQ","data":[{"id":"d"}],"eids":[{"source":"s","uids":[{"id":"x"}]}]}}`,
			[]string{"device.ip truncated", "device.geo rounded"}},
		{"IPv6 truncated to /48", &openrtb.BidRequest{Device: &openrtb.Device{IPv6: "2001:db8:1234:5678::1"}}, Decision{CoarsenGeo: true, RemoveIDs: true},
			`{"device":{"ipv6":"2001:db8:1234::"}}`, []string{"device.ip truncated"}},
		{"both addresses", &openrtb.BidRequest{Device: &openrtb.Device{IP: "198.51.100.9", IPv6: "2001:db8:1:2::3"}}, Decision{CoarsenGeo: true},
			`{"device":{"ip":"198.51.100.0","ipv6":"2001:db8:1::"}}`, []string{"device.ip truncated"}},
		{"already truncated", &openrtb.BidRequest{Device: &openrtb.Device{IP: "203.0.113.0"}}, Decision{CoarsenGeo: true},
			`{"device":{"ip":"203.0.113.0"}}`, nil},
		{"no device or user", &openrtb.BidRequest{}, Decision{CoarsenGeo: true, RemoveIDs: true}, `{}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := json.Marshal(c.req)
			got, removed := Apply(c.req, c.d)
			after, _ := json.Marshal(c.req)
			if string(before) != string(after) {
				t.Errorf("Apply changed its input:\n%s\n%s", before, after)
			}
			if removed == 0 && got != c.req {
				t.Error("nothing removed, yet a copy was made")
			}
			j, _ := json.Marshal(struct {
				Device *openrtb.Device `json:"device,omitempty"`
				User   *openrtb.User   `json:"user,omitempty"`
			}{got.Device, got.User})
			if string(j) != c.want {
				t.Errorf("got  %s\nwant %s", j, c.want)
			}
			if !slices.Equal(removed.Names(), c.wantRemoved) {
				t.Errorf("removed %q; want %q", removed.Names(), c.wantRemoved)
			}
		})
	}
}
