package placement_test

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"asap/service/internal/placement"
)

// TestBucketIsDocumented holds Bucket to what its documentation (and
// docs/placements.md) tells someone reproducing it: hash/fnv's FNV-1a 64 of
// "<pkey>:<unit>", top 32 bits × 10000 / 2³².
func TestBucketIsDocumented(t *testing.T) {
	for _, unit := range []string{"", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "e2a65610-ee45-47a1-8850-c26db508b607", "é\x00"} {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s:%s", "demo-feed", unit)
		want := int((h.Sum64() >> 32) * 10000 >> 32)
		if got := placement.Bucket("demo-feed", unit); got != want {
			t.Errorf("Bucket(demo-feed, %q) = %d; want %d", unit, got, want)
		}
		if got := placement.Bucket("demo-feed", []byte(unit)); got != want {
			t.Errorf("Bucket(demo-feed, []byte(%q)) = %d; want %d", unit, got, want)
		}
	}
}

// uids returns n advertising ids in the form SDKs send them (upper-case UUIDs),
// the same every run.
func uids(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		a, b := r.Uint64(), r.Uint64()
		out[i] = strings.ToUpper(fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>48&0x3fff|0x8000, b&0xffffffffffff))
	}
	return out
}

// TestArmShares: over 100,000 users each arm gets its percentage within half a
// point, in every placement, and the rest is control.
func TestArmShares(t *testing.T) {
	users := uids(100_000)
	p := &placement.Placement{Experiments: []placement.Experiment{{ID: "b", Percent: 10}, {ID: "c", Percent: 25}, {ID: "d", Percent: 0.5}}}
	for _, pkey := range []string{"demo-feed", "demo-article", "x"} {
		p.PKey = pkey
		counts := make([]int, len(p.Experiments)+1)
		for _, u := range users {
			counts[p.Arm(placement.Bucket(pkey, u))+1]++
		}
		want := []float64{64.5, 10, 25, 0.5}
		for i, n := range counts {
			share := float64(n) * 100 / float64(len(users))
			if math.Abs(share-want[i]) > 0.5 {
				t.Errorf("%s: arm %d has %.2f%% of users; want %v%% ± 0.5", pkey, i-1, share, want[i])
			}
		}
	}
}

// TestArmBuckets: arms take consecutive buckets in their order, and raising a
// percentage keeps every user the arm had.
func TestArmBuckets(t *testing.T) {
	p := &placement.Placement{Experiments: []placement.Experiment{{ID: "b", Percent: 10}, {ID: "c", Percent: 0.05}}}
	for bucket, want := range map[int]int{0: 0, 999: 0, 1000: 1, 1004: 1, 1005: -1, 9999: -1} {
		if got := p.Arm(bucket); got != want {
			t.Errorf("Arm(%d) = %d; want %d", bucket, got, want)
		}
	}
	if got := (&placement.Placement{}).Arm(0); got != -1 {
		t.Errorf("no experiments: Arm(0) = %d; want -1", got)
	}
	wider := &placement.Placement{Experiments: []placement.Experiment{{ID: "b", Percent: 20}}}
	for _, u := range uids(10_000) {
		if b := placement.Bucket("demo-feed", u); p.Arm(b) == 0 && wider.Arm(b) != 0 {
			t.Fatalf("user %s left arm b when it grew from 10%% to 20%%", u)
		}
	}
}

func TestForArm(t *testing.T) {
	var p placement.Placement
	err := json.Unmarshal([]byte(`{
		"pkey": "p", "status": "OK", "adServer": "DFP", "keyType": "creative_key", "keyValue": "ck",
		"articlesBeforeFirstAd": 2, "articlesBetweenAds": 5,
		"mediationNetworks": [{"key": "a", "name": "A"}],
		"targeting": [{"customKeys": {"s": "x"}, "keyType": "campaign_key", "keyValue": "t"}],
		"ad": {"upstream": "primary", "native": true},
		"experiments": [
			{"id": "all", "percent": 10, "override": {"adServer": "GAM", "keyType": "campaign_key", "keyValue": "cmp",
			  "articlesBeforeFirstAd": 0, "articlesBetweenAds": 9, "mediationNetworks": [],
			  "targeting": [{"os": "ios", "keyType": "campaign_key", "keyValue": "ios"}]}},
			{"id": "none", "percent": 10}
		]}`), &p)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	all := p.ForArm(0)
	if all.AdServer != "GAM" || all.KeyType != "campaign_key" || all.KeyValue != "cmp" || all.ArticlesBeforeFirstAd != 0 ||
		all.ArticlesBetweenAds != 9 || all.MediationNetworks == nil || len(all.MediationNetworks) != 0 || all.Experiments != nil {
		t.Errorf("ForArm(0) = %+v; want every field overridden, an empty waterfall, no experiments", all)
	}
	if _, v := all.KeyFor(placement.Target{OS: "iOS"}); v != "ios" {
		t.Errorf("arm's own targeting: keyValue %q; want ios", v)
	}
	if _, v := all.KeyFor(placement.Target{CustomKey: placement.CustomKeys(map[string]string{"s": "x"})}); v != "cmp" {
		t.Errorf("arm replaced the targeting, yet the record's rule matched: keyValue %q; want cmp", v)
	}
	if all.PKey != "p" || all.Status != "OK" || all.Ad != p.Ad {
		t.Errorf("ForArm changed pkey, status or the ad section: %+v", all)
	}
	none := p.ForArm(1)
	want := p
	want.Experiments = nil
	if !reflect.DeepEqual(*none, want) {
		t.Errorf("empty override: ForArm(1) = %+v; want the record without experiments", none)
	}
	if p.Experiments == nil || p.AdServer != "DFP" {
		t.Error("ForArm changed the record")
	}
	b, err := placement.Encode(&p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := placement.DecodeStored(b, "p")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.ForArm(0), all) {
		t.Errorf("after a round trip through Redis's encoding, arm 0 = %+v; want %+v", back.ForArm(0), all)
	}
}

func TestExperimentsValidate(t *testing.T) {
	ok := []placement.Experiment{{ID: "a", Percent: 33.33}, {ID: "b", Percent: 33.33}, {ID: "c", Percent: 33.34}}
	p := placement.Placement{PKey: "p", Status: "OK", Experiments: ok}
	if err := p.Validate(); err != nil {
		t.Errorf("three arms adding up to 100: %v", err)
	}
	p.Experiments = make([]placement.Experiment, 11)
	for i := range p.Experiments {
		p.Experiments[i] = placement.Experiment{ID: fmt.Sprintf("e%d", i), Percent: 1}
	}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "11 arms; at most 10") {
		t.Errorf("11 arms: %v; want too many arms", err)
	}
	p.Experiments = []placement.Experiment{{ID: "a", Percent: math.NaN()}, {ID: "", Percent: 101}, {ID: "n", Percent: -1}}
	err := p.Validate()
	for _, want := range []string{"experiments[0].percent NaN", "experiments[1].id is empty", "experiments[1].percent 101", "experiments[2].percent -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\ndoes not mention %q", err, want)
		}
	}
}

func TestNoUID(t *testing.T) {
	for uid, want := range map[string]bool{"": true, "00000000-0000-0000-0000-000000000000": true, "0": true,
		"6D92078A-8246-4BA4-AE5B-76104861E7DC": false, "00000000-0000-0000-0000-000000000001": false, "-x": false} {
		if got := placement.NoUID(uid); got != want {
			t.Errorf("NoUID(%q) = %v; want %v", uid, got, want)
		}
	}
}

// BenchmarkArm is the arm lookup of a request with a uid: hash and arm.
func BenchmarkArm(b *testing.B) {
	p := &placement.Placement{PKey: "demo-feed", Experiments: []placement.Experiment{{ID: "b", Percent: 10}, {ID: "c", Percent: 5}}}
	b.ReportAllocs()
	for b.Loop() {
		p.Arm(placement.Bucket(p.PKey, "6D92078A-8246-4BA4-AE5B-76104861E7DC"))
	}
}
