package server

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
)

// TestEncodedV2MatchesAppendV2 holds the pre-encoded answer to appendV2, which
// TestAppendV2MatchesEncodingJSON holds to encoding/json.
func TestEncodedV2MatchesAppendV2(t *testing.T) {
	var list []placement.Placement
	if err := json.Unmarshal(samples.JSON, &list); err != nil {
		t.Fatal(err)
	}
	odd := placement.Placement{PKey: "odd", Status: "OK", AdServer: "D\"F<P>\u0000", MediationNetworks: []placement.MediationNetwork{
		{Key: "k", Name: "n\\", Parameters: json.RawMessage(`{"a": [1, 2]}`)}, {Key: "é", Parameters: json.RawMessage(`[1]`)},
	}}
	list = append(list, odd)
	mrid := uuid.MustParse("e2a65610-ee45-47a1-8850-c26db508b607")
	var as v2Answers
	for i := range list {
		p := &list[i]
		for _, keys := range [][2]string{{p.KeyType, p.KeyValue}, {"campaign_key", "cmp-9"}, {"", "\u2028\"<"}} {
			got := string(as.get(p).append(nil, mrid, keys[0], keys[1]))
			want := string(appendV2(nil, mrid, p, keys[0], keys[1]))
			if got != want {
				t.Errorf("%s %q: got\n%s\nwant\n%s", p.PKey, keys, got, want)
			}
		}
	}
}

func TestV2AnswersFollowReplacedPlacements(t *testing.T) {
	var as v2Answers
	p1 := &placement.Placement{PKey: "demo", Status: "OK", AdServer: "DFP"}
	if first, again := as.get(p1), as.get(p1); first != again {
		t.Error("the same placement was encoded twice")
	}
	p2 := &placement.Placement{PKey: "demo", Status: "PAUSED", AdServer: "DFP"}
	got := string(as.get(p2).append(nil, uuid.UUID{}, "t", "v"))
	if want := string(appendV2(nil, uuid.UUID{}, p2, "t", "v")); got != want {
		t.Errorf("after the placement was replaced: got %s; want %s", got, want)
	}
}
