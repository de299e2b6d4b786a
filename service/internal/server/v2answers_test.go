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
	list = append(list, odd, *experimentPlacement())
	mrid := uuid.MustParse("e2a65610-ee45-47a1-8850-c26db508b607")
	var as v2Answers
	for i := range list {
		p := &list[i]
		for _, keys := range [][2]string{{p.KeyType, p.KeyValue}, {"campaign_key", "cmp-9"}, {"", "\u2028\"<"}} {
			got := string(as.get(p).append(nil, mrid, keys[0], keys[1]))
			want := string(appendV2(nil, mrid, p, keys[0], keys[1], ""))
			if got != want {
				t.Errorf("%s %q: got\n%s\nwant\n%s", p.PKey, keys, got, want)
			}
			for arm := range p.Experiments {
				got := string(as.get(p).arm(arm).append(nil, mrid, keys[0], keys[1]))
				want := string(appendV2(nil, mrid, p.ForArm(arm), keys[0], keys[1], p.Experiments[arm].ID))
				if got != want {
					t.Errorf("%s arm %d %q: got\n%s\nwant\n%s", p.PKey, arm, keys, got, want)
				}
			}
		}
	}
}

// experimentPlacement is a placement with two experiment arms, one overriding
// every field an override holds and one overriding nothing.
func experimentPlacement() *placement.Placement {
	ptr := func(s string) *string { return &s }
	n := func(i int) *int { return &i }
	networks := []placement.MediationNetwork{{Key: "b-1", Name: "B\"<", AndroidClassName: "com.b", Parameters: json.RawMessage(`{"x":1}`)}}
	targeting := []placement.TargetingRule{{OS: "ios", KeyType: "campaign_key", KeyValue: "ios-arm"}}
	return &placement.Placement{
		PKey: "exp", Status: "OK", AdServer: "DFP", KeyType: "creative_key", KeyValue: "ck-1",
		ArticlesBeforeFirstAd: 2, ArticlesBetweenAds: 5,
		MediationNetworks: []placement.MediationNetwork{{Key: "a-1", Name: "A", Parameters: json.RawMessage(`{}`)}},
		Experiments: []placement.Experiment{
			{ID: "waterfall-b", Percent: 10, Override: placement.Override{
				AdServer: ptr("GAM"), KeyType: ptr("campaign_key"), KeyValue: ptr("cmp-b"),
				ArticlesBeforeFirstAd: n(1), ArticlesBetweenAds: n(3), MediationNetworks: &networks, Targeting: &targeting,
			}},
			{ID: "a-a", Percent: 5},
		},
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
	if want := string(appendV2(nil, uuid.UUID{}, p2, "t", "v", "")); got != want {
		t.Errorf("after the placement was replaced: got %s; want %s", got, want)
	}
}
