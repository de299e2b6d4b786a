package placement_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		wantN    int
		wantErrs []string // every one must appear in the error
	}{
		{name: "samples", data: string(samples.JSON), wantN: 5},
		{name: "minimal", data: `[{"pkey": "a", "status": "OK"}]`, wantN: 1},
		{name: "not JSON", data: "[\n  {\"pkey\": \"a\",\n  }\n]", wantErrs: []string{"line 3, column 3"}},
		{name: "not an array", data: `{"pkey": "a"}`, wantErrs: []string{"want a JSON array"}},
		{name: "empty array", data: `[]`, wantErrs: []string{"no placements"}},
		{name: "null record", data: `[null]`, wantErrs: []string{"record 0: null"}},
		{name: "typo in a field name", data: `[{"pkey": "a", "status": "OK", "keyTipe": "x"}]`, wantErrs: []string{"record 0", `unknown field "keyTipe"`}},
		{name: "wrong type", data: `[{"pkey": "a", "status": 1}]`, wantErrs: []string{"record 0", "status"}},
		{
			name: "every problem at once",
			data: `[
				{"pkey": "ok", "status": "OK"},
				{"pkey": "bad key", "status": "OK"},
				{"pkey": "b", "status": "", "articlesBetweenAds": -1},
				{"pkey": "ok", "status": "OK"},
				{"pkey": "c", "status": "OK", "ad": {"upstream": "http://evil.example/"}},
				{"pkey": "d", "status": "OK", "mediationNetworks": [{"key": "k", "name": "STR", "parameters": [1]}]},
				{"pkey": "e", "status": "OK", "ad": {"upstream": "primary", "banner": [{"w": 0, "h": 50}]}},
				{"pkey": "f", "status": "OK", "targeting": [{"customKeys": {}, "keyType": "x", "keyValue": "y"}]},
				{"pkey": "g", "status": "OK", "targeting": [{"appVersion": ">=5.2.x", "keyType": "x", "keyValue": "y"}, {"appVersion": "", "keyType": "x", "keyValue": "y"}],
				 "experiments": [{"id": "control", "percent": 0}, {"id": "b", "percent": 60, "override": {"articlesBetweenAds": -2, "targeting": [{"os": "android", "appVersion": "<6 >"}]}},
				                 {"id": "b", "percent": 50.001}, {"id": "c d", "percent": 45}]},
				{"pkey": "h", "status": "OK", "experiments": [{"id": "x", "percent": 10, "override": {"pkey": "other"}}]}
			]`,
			wantErrs: []string{
				`record 1: placement "bad key": pkey`,
				`record 2: placement "b": status is empty`,
				`record 2: placement "b": articlesBeforeFirstAd and articlesBetweenAds must not be negative`,
				`record 3: pkey "ok" is already record 0`,
				`record 4: placement "c": ad.upstream "http://evil.example/"`,
				`record 5: placement "d": mediationNetworks[0].parameters: want a JSON object`,
				`record 6: placement "e": ad.banner[0]`,
				`record 7: placement "f": targeting[0]: no condition: set customKeys, appVersion or os`,
				`record 8: placement "g": targeting[0].appVersion ">=5.2.x": "5.2.x" is not a semantic version`,
				`record 8: placement "g": targeting[1].appVersion "": empty`,
				`record 8: placement "g": experiments[0].id "control": reserved`,
				`record 8: placement "g": experiments[0].percent 0: want above 0 and at most 100`,
				`record 8: placement "g": experiments[1].override.articlesBetweenAds must not be negative`,
				`record 8: placement "g": experiments[1].override.targeting[0].appVersion "<6 >": ">": want a version after the operator`,
				`record 8: placement "g": experiments[2].id "b" is already experiments[1]`,
				`record 8: placement "g": experiments[2].percent 50.001: want at most two decimals`,
				`record 8: placement "g": experiments[3].id "c d": want [A-Za-z0-9_-]{1,64}`,
				`record 8: placement "g": experiments: the percentages add up to 105; at most 100`,
				`record 9: json: unknown field "pkey"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := placement.Decode([]byte(tt.data))
			if len(tt.wantErrs) == 0 {
				if err != nil || len(ps) != tt.wantN {
					t.Fatalf("placement.Decode = %d placements, %v; want %d, nil", len(ps), err, tt.wantN)
				}
				return
			}
			if err == nil {
				t.Fatalf("placement.Decode = %d placements, nil; want an error", len(ps))
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not mention %q", err, want)
				}
			}
		})
	}
}

func TestDecodeChecks(t *testing.T) {
	noNative := func(p *placement.Placement) error {
		if p.Ad != nil && p.Ad.Native {
			return errors.Join(errors.New("native is off"), errors.New("really"))
		}
		return nil
	}
	_, err := placement.Decode(samples.JSON, noNative)
	want := "record 0: placement \"demo-feed\": native is off\nrecord 0: placement \"demo-feed\": really\n" +
		"record 4: placement \"demo-native\": native is off\nrecord 4: placement \"demo-native\": really"
	if err == nil || err.Error() != want {
		t.Errorf("placement.Decode with a check: error = %q; want %q", err, want)
	}
}

// FuzzDecode: placement files and records come from outside. Decode must never
// panic, and what it accepts must be valid and survive the store's encoding.
func FuzzDecode(f *testing.F) {
	f.Add(samples.JSON)
	f.Add([]byte(`[{"pkey": "a", "status": "OK", "mediationNetworks": [{"parameters": null}]}]`))
	f.Add([]byte(`[{"pkey": "a", "status": "OK", "ad": {"upstream": "x", "native": true, "houseAd": {"markup": "<b>"}}}]`))
	f.Add([]byte(`[null, {}, []]`))
	f.Add([]byte(`{"pkey": "a"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := placement.Decode(data)
		if err != nil {
			return
		}
		for i := range ps {
			if err := ps[i].Validate(); err != nil {
				t.Fatalf("placement.Decode accepted an invalid placement: %v", err)
			}
			enc, err := placement.Encode(&ps[i])
			if err != nil {
				t.Fatalf("placement.Encode(%+v): %v", ps[i], err)
			}
			back, err := placement.DecodeStored(enc, ps[i].PKey)
			if err != nil {
				t.Fatalf("stored record %s does not read back: %v", enc, err)
			}
			again, _ := placement.Encode(back)
			if string(again) != string(enc) {
				t.Fatalf("round trip changed the record:\n%s\n%s", enc, again)
			}
			var generic any
			if err := json.Unmarshal(enc, &generic); err != nil || reflect.ValueOf(generic).Kind() != reflect.Map {
				t.Fatalf("encoded record is not a JSON object: %s", enc)
			}
		}
	})
}

// FuzzDecodeStored: a record read from Redis is outside input too. Whatever it
// holds, reading it must not panic; what it refuses is ErrInvalid; what it accepts
// is valid, or valid but for its ad section, whose problems are then in AdProblem.
func FuzzDecodeStored(f *testing.F) {
	for _, p := range samples.Placements() {
		data, _ := placement.Encode(&p)
		f.Add(data, p.PKey)
	}
	f.Add([]byte(`{"pkey": "a", "status": "OK", "unknown": [1, {"x": null}]}`), "a")
	f.Add([]byte(`{"pkey": "a", "status": "OK", "mediationNetworks": [{"parameters": "x"}]}`), "a")
	f.Add([]byte(`null`), "a")
	f.Add([]byte(`{"pkey": "a", "status": "OK", "ad": {"upstream": "primary"}}`), "a")
	f.Fuzz(func(t *testing.T, data []byte, pkey string) {
		p, err := placement.DecodeStored(data, pkey)
		if err != nil {
			if !errors.Is(err, placement.ErrInvalid) {
				t.Fatalf("placement.DecodeStored refused a record with %v; want ErrInvalid", err)
			}
			return
		}
		if p.PKey != pkey {
			t.Fatalf("placement.DecodeStored(_, %q) returned pkey %q", pkey, p.PKey)
		}
		if err := p.Validate(); (err == nil) != (p.AdProblem == nil) {
			t.Fatalf("placement.DecodeStored: Validate = %v with AdProblem %v; want both nil or both set", err, p.AdProblem)
		}
		if p.AdProblem != nil {
			core := *p
			core.Ad = nil
			if err := core.Validate(); err != nil {
				t.Fatalf("placement.DecodeStored accepted a placement invalid outside its ad section: %v", err)
			}
		}
		p.KeyFor(placement.Target{CustomKey: placement.CustomKeys(map[string]string{"section": "sports"}), AppVersion: "5.2.0", OS: "android"})
		for i := range p.Experiments {
			p.ForArm(i).KeyFor(placement.Target{AppVersion: "v6"})
		}
		p.Arm(placement.Bucket(pkey, "uid"))
	})
}

// FuzzDecodeRecord: the admin API's PUT body is outside input. DecodeRecord must
// never panic, and what it accepts must be valid and read back from the store's
// encoding as the same record.
func FuzzDecodeRecord(f *testing.F) {
	for _, p := range samples.Placements() {
		data, _ := placement.Encode(&p)
		f.Add(data)
	}
	f.Add([]byte(`{"pkey": "a", "status": "OK"} {}`))
	f.Add([]byte(`{"pkey": "a", "status": "OK", "typo": 1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"pkey": `))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := placement.DecodeRecord(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("DecodeRecord refused a record without saying why")
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("DecodeRecord accepted an invalid placement: %v", err)
		}
		enc, err := placement.Encode(p)
		if err != nil {
			t.Fatalf("placement.Encode(%+v): %v", p, err)
		}
		if _, err := placement.DecodeRecord(enc); err != nil {
			t.Fatalf("the stored form %s of an accepted record is refused: %v", enc, err)
		}
	})
}
