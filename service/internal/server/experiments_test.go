package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"asap/service/internal/placement"
	"asap/service/internal/server/servertest"
)

// experimentRecord is a placement with two experiment arms (20% and 30%), as a
// placements file holds it.
const experimentRecord = `{
	"pkey": "exp", "status": "OK", "adServer": "DFP", "keyType": "creative_key", "keyValue": "ck-control",
	"articlesBeforeFirstAd": 2, "articlesBetweenAds": 5,
	"mediationNetworks": [{"key": "str-1", "name": "STR", "androidClassName": "a.STR", "iosClassName": "STR", "parameters": {}}],
	"targeting": [{"customKeys": {"section": "sports"}, "keyType": "campaign_key", "keyValue": "cmp-sports"}],
	"experiments": [
		{"id": "waterfall-b", "percent": 20, "override": {
			"mediationNetworks": [{"key": "dfp-9", "name": "DFP", "androidClassName": "a.DFP", "iosClassName": "DFP", "parameters": {"adUnitId": "/9/b"}}],
			"articlesBetweenAds": 3}},
		{"id": "spacing-c", "percent": 30, "override": {"articlesBeforeFirstAd": 1, "adServer": "GAM", "keyValue": "ck-c"}}
	]}`

func experimentGetter(t *testing.T) (*servertest.Placements, *placement.Placement) {
	t.Helper()
	ps, err := placement.Decode([]byte("[" + experimentRecord + "]"))
	if err != nil {
		t.Fatal(err)
	}
	getter := &servertest.Placements{}
	getter.Set(&ps[0])
	return getter, &ps[0]
}

// uidIn returns a uid that placement.Bucket puts in arm of p (-1: control).
func uidIn(t *testing.T, p *placement.Placement, arm int) string {
	t.Helper()
	for i := range 10_000 {
		uid := fmt.Sprintf("uid-%d", i)
		if p.Arm(placement.Bucket(p.PKey, uid)) == arm {
			return uid
		}
	}
	t.Fatalf("no uid in arm %d", arm)
	return ""
}

// TestV2Experiments: a user's uid puts them in one arm, whose overrides the
// answer has along with its experimentId; control's answer is the record's and
// has no experimentId; the same uid gets the same arm every time.
func TestV2Experiments(t *testing.T) {
	getter, p := experimentGetter(t)
	ts := start(t, getter)
	dfp := []any{map[string]any{"key": "dfp-9", "name": "DFP", "androidClassName": "a.DFP", "iosClassName": "DFP", "parameters": map[string]any{"adUnitId": "/9/b"}}}
	str := []any{map[string]any{"key": "str-1", "name": "STR", "androidClassName": "a.STR", "iosClassName": "STR", "parameters": map[string]any{}}}
	tests := []struct {
		name string
		arm  int
		want map[string]any
	}{
		{"waterfall-b", 0, map[string]any{"experimentId": "waterfall-b", "mediationNetworks": dfp, "articlesBetweenAds": 3.0,
			"articlesBeforeFirstAd": 2.0, "adServer": "DFP", "keyValue": "ck-control"}},
		{"spacing-c", 1, map[string]any{"experimentId": "spacing-c", "mediationNetworks": str, "articlesBetweenAds": 5.0,
			"articlesBeforeFirstAd": 1.0, "adServer": "GAM", "keyValue": "ck-c"}},
		{"control", -1, map[string]any{"experimentId": nil, "mediationNetworks": str, "articlesBetweenAds": 5.0,
			"articlesBeforeFirstAd": 2.0, "adServer": "DFP", "keyValue": "ck-control"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid := uidIn(t, p, tt.arm)
			for range 3 {
				got := get(t, ts.URL+"/v2?pkey=exp&uid="+url.QueryEscape(uid))
				if got.code != 200 || got.json["status"] != "OK" || got.json["pkey"] != "exp" || got.json["mrid"] == "" {
					t.Fatalf("uid %s: %d %s", uid, got.code, got.body)
				}
				for k, want := range tt.want {
					v, present := got.json[k]
					if want == nil && present {
						t.Errorf("uid %s: %s = %v; want it absent", uid, k, v)
					} else if want != nil && mustJSON(t, v) != mustJSON(t, want) {
						t.Errorf("uid %s: %s = %s; want %s", uid, k, mustJSON(t, v), mustJSON(t, want))
					}
				}
			}
			// Targeting still applies inside an arm.
			got := get(t, ts.URL+"/v2?pkey=exp&customKeys[section]=sports&uid="+url.QueryEscape(uid))
			if got.json["keyValue"] != "cmp-sports" {
				t.Errorf("uid %s with customKeys[section]=sports: keyValue %v; want cmp-sports", uid, got.json["keyValue"])
			}
		})
	}
}

// TestV2ExperimentsWithoutUID: without a uid, or with the zeroed one of limited
// ad tracking, each request draws its arm from its mrid, so over many requests
// every arm and control answer.
func TestV2ExperimentsWithoutUID(t *testing.T) {
	getter, _ := experimentGetter(t)
	ts := start(t, getter)
	for _, query := range []string{"", "&uid=00000000-0000-0000-0000-000000000000"} {
		seen := map[string]int{}
		// The chance that 300 requests miss an arm of 20% is 0.8³⁰⁰ ≈ 10⁻²⁹.
		for range 300 {
			got := get(t, ts.URL+"/v2?pkey=exp"+query)
			id, _ := got.json["experimentId"].(string)
			seen[id]++
		}
		for _, id := range []string{"", "waterfall-b", "spacing-c"} {
			if seen[id] == 0 {
				t.Errorf("300 requests ?pkey=exp%s: none in arm %q (%v)", query, id, seen)
			}
		}
	}
}

// TestV2ExperimentMetrics: requests are counted by placement and arm, and
// placements without experiments get no series.
func TestV2ExperimentMetrics(t *testing.T) {
	getter, p := experimentGetter(t)
	feed := servertest.Samples(t)
	demo, err := feed.Get(t.Context(), "demo-feed")
	if err != nil {
		t.Fatal(err)
	}
	getter.Set(demo)
	ts := start(t, getter)
	want := map[string]float64{"waterfall-b": 0, "spacing-c": 0, "control": 0}
	for arm, n := range map[int]int{0: 2, 1: 1, -1: 4} {
		uid := uidIn(t, p, arm)
		for range n {
			get(t, ts.URL+"/v2?pkey=exp&uid="+uid)
		}
		want[armName(p, arm)] += float64(n)
	}
	get(t, ts.URL+"/v2?pkey=demo-feed")
	for arm, n := range want {
		// Gather sorts labels by name: arm, pkey, route.
		if got := counter(t, ts.reg, "asap_experiment_requests_total", arm, "exp", "/v2"); got != n {
			t.Errorf("asap_experiment_requests_total{pkey=exp,arm=%s,route=/v2} = %v; want %v", arm, got, n)
		}
	}
	if m := metric(t, ts.reg, "asap_experiment_requests_total", "control", "demo-feed", "/v2"); m != nil {
		t.Errorf("a placement without experiments has a series: %v", m)
	}
}

func armName(p *placement.Placement, arm int) string {
	if arm < 0 {
		return "control"
	}
	return p.Experiments[arm].ID
}

// TestV2TargetingVersionAndOS: rules on appVersion (pubAppVersion) and os.
func TestV2TargetingVersionAndOS(t *testing.T) {
	var pl placement.Placement
	if err := json.Unmarshal([]byte(`{"pkey": "tgt", "status": "OK", "keyType": "creative_key", "keyValue": "ck-default",
		"targeting": [
			{"appVersion": ">=5.2.0 <6", "os": "android", "keyType": "campaign_key", "keyValue": "android-5.2"},
			{"appVersion": ">=6", "keyType": "campaign_key", "keyValue": "six"},
			{"os": "ios", "customKeys": {"section": "news"}, "keyType": "campaign_key", "keyValue": "ios-news"}
		]}`), &pl); err != nil {
		t.Fatal(err)
	}
	if err := pl.Validate(); err != nil {
		t.Fatal(err)
	}
	getter := &servertest.Placements{}
	getter.Set(&pl)
	ts := start(t, getter)
	tests := []struct{ query, want string }{
		{"", "ck-default"},
		{"&pubAppVersion=5.2.0&os=android", "android-5.2"},
		{"&pubAppVersion=5.10.3&os=Android", "android-5.2"},
		{"&pubAppVersion=5.2.0", "ck-default"},
		{"&pubAppVersion=5.1.9&os=android", "ck-default"},
		{"&pubAppVersion=6.0.0&os=android", "six"},
		{"&pubAppVersion=6.0.0-beta.2&os=android", "android-5.2"},
		{"&pubAppVersion=v7", "six"},
		{"&pubAppVersion=7.x", "ck-default"},
		{"&pubAppVersion=%36.1", "six"},
		{"&os=ios&customKeys[section]=news", "ios-news"},
		{"&os=ios", "ck-default"},
	}
	for _, tt := range tests {
		got := get(t, ts.URL+"/v2?pkey=tgt"+tt.query)
		if got.code != 200 || got.json["keyValue"] != tt.want {
			t.Errorf("?pkey=tgt%s: %d keyValue %v; want 200 %s", tt.query, got.code, got.json["keyValue"], tt.want)
		}
	}
}

// TestV2NewParameters: uid and os are bounded and, like every parameter, refused
// when given twice with different values.
func TestV2NewParameters(t *testing.T) {
	ts := start(t, servertest.Samples(t))
	long := fmt.Sprintf("%065d", 0)
	for query, param := range map[string]string{
		"uid=" + long: "uid", "os=" + long: "os", "uid=a&uid=b": "uid", "os=ios&os=android": "os",
		"pubAppVersion=1&pubAppVersion=2": "pubAppVersion", "uid=%zz": "uid",
	} {
		got := get(t, ts.URL+"/v2?pkey=demo-feed&"+query)
		if got.code != 400 || got.json["error"] == nil || !strings.Contains(fmt.Sprint(got.json["error"]), param) {
			t.Errorf("?%s: %d %s; want 400 naming %s", query, got.code, got.body, param)
		}
	}
	for _, query := range []string{"uid=a&uid=a", "os=ios", "uid=" + long[1:], "uid="} {
		if got := get(t, ts.URL+"/v2?pkey=demo-feed&"+query); got.code != 200 {
			t.Errorf("?%s: %d %s; want 200", query, got.code, got.body)
		}
	}
}
