package openrtb

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"
)

// marshal is what ASAP sent before AppendBidRequest: encoding/json without HTML
// escaping (json.Encoder adds a newline, which is trimmed).
func marshal(r *BidRequest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(r)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

func checkAppend(t *testing.T, r *BidRequest) {
	t.Helper()
	want, wantErr := marshal(r)
	got, gotErr := AppendBidRequest(nil, r)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("AppendBidRequest error %v; encoding/json error %v; request %#v", gotErr, wantErr, r)
	}
	if wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("AppendBidRequest:\n%s\nencoding/json:\n%s", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAppendBidRequestMatchesEncodingJSON(t *testing.T) {
	full := &BidRequest{
		ID: "0b7a3c52-5d7e-4f1a-9a43-3f7c2d1e9b86",
		Imp: []Imp{{
			ID: "1", TagID: "demo-feed", BidFloor: 0.5, BidFloorCur: "USD", Secure: ptr[int8](1), Exp: 30, Instl: 1,
			DisplayManager: "asap", DisplayManagerVer: "1",
			Banner: &Banner{Format: []Format{{W: 300, H: 250}, {W: 320, H: 50, WRatio: 1, HRatio: 2, WMin: 3, Ext: json.RawMessage(` { "a" : 1 } `)}},
				W: 300, H: 250, BType: []int{1}, BAttr: []int{2, 3}, Pos: 1, MIMEs: []string{"image/png"}, API: []int{3}, ID: "b", Ext: json.RawMessage(`{}`)},
			Video: &Video{MIMEs: []string{"video/mp4", "video/webm"}, MinDuration: 5, MaxDuration: 30, StartDelay: ptr(0), Protocols: []int{2, 3, 5, 6, 7, 8},
				W: 320, H: 480, Plcmt: 3, Placement: 5, Linearity: 1, Skip: ptr[int8](1), SkipMin: 15, SkipAfter: 5, BAttr: []int{1, 2},
				MaxExtended: -1, MinBitrate: 300, MaxBitrate: 1500, BoxingAllowed: ptr[int8](0), PlaybackMethod: []int{1}, PlaybackEnd: 1,
				Delivery: []int{3}, Pos: 7, API: []int{7}, CompanionType: []int{1, 2}, Ext: json.RawMessage(`{"rewarded":1}`)},
			Audio: &Audio{MIMEs: []string{"audio/mp4"}, MinDuration: 10, MaxDuration: 20, Protocols: []int{9}, StartDelay: ptr(-1), BAttr: []int{3},
				MaxExtended: 5, MinBitrate: 64, MaxBitrate: 128, Delivery: []int{1}, API: []int{7}, Feed: 1, Stitched: ptr[int8](0), NVol: 2, Ext: json.RawMessage(`{}`)},
			Native: &Native{Request: `{"ver":"1.2","assets":[{"id":1}]}`, Ver: "1.2", API: []int{1}, BAttr: []int{1}, Ext: json.RawMessage(`[1, 2]`)},
			Rwdd:   1,
			Ext:    json.RawMessage(`{"creative_key":"ck-123"}`),
		}, {ID: "2"}},
		App: &App{ID: "a", Name: "Example <News> & Co", Bundle: "com.example", Domain: "example.com", StoreURL: "https://x/?a=1&b=2",
			Cat: []string{"IAB1"}, Ver: "4.2", Publisher: &Publisher{ID: "pub-1", Name: "n", Domain: "d", Ext: json.RawMessage(`"x"`)}, Ext: json.RawMessage(`true`)},
		Device: &Device{Geo: &Geo{Lat: ptr(52.52), Lon: ptr(math.Copysign(0, -1)), Type: 2, Country: "DEU", Region: "BE", City: "Berlin", ZIP: "10115", Ext: json.RawMessage(`null`)},
			DNT: ptr[int8](0), Lmt: ptr[int8](1), UA: "Mozilla/5.0 (Linux; Android 14)", IP: "203.0.113.0", IPv6: "2001:db8::", DeviceType: 4,
			Make: "Google", Model: "Pixel 8", OS: "android", OSV: "14", H: 2400, W: 1080, Language: "de", ConnectionType: ptr(2), IFA: "ifa", Ext: json.RawMessage(`1e3`)},
		User: &User{ID: "u", BuyerUID: "b", Consent: "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
			Data: []Data{{ID: "d1", Name: "dmp", Segment: []Segment{{ID: "s1", Name: "sports", Value: "1", Ext: json.RawMessage(`{}`)}, {ID: "s2"}}, Ext: json.RawMessage(`{"segtax":4}`)}, {}},
			EIDs: []EID{{Source: "id5-sync.com", UIDs: []UID{{ID: "ID5*abc", AType: 1, Ext: json.RawMessage(`{"linkType":2}`)}, {}}, Ext: json.RawMessage(`{}`)}, {Source: "x"}},
			Ext:  json.RawMessage(`{"eids":[]}`)},
		Test: 1, At: 1, Tmax: 250, Cur: []string{"USD"}, Bcat: []string{"IAB25", "IAB26"}, Badv: []string{"blocked.example"},
		Source: &Source{FD: ptr[int8](1), TID: "t", Ext: json.RawMessage(`{}`)},
		Regs:   &Regs{COPPA: ptr[int8](0), GDPR: ptr[int8](1), USPrivacy: "1YNN", GPP: "DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", GPPSID: []int{2, 6}, Ext: json.RawMessage(`{}`)},
		Ext:    json.RawMessage("{\n  \"prebid\": {\"debug\": false}\n}"),
	}
	tests := []struct {
		name string
		req  *BidRequest
	}{
		{"every field", full},
		{"zero", &BidRequest{}},
		{"empty imp", &BidRequest{ID: "x", Imp: []Imp{}}},
		{"empty structs", &BidRequest{Imp: []Imp{{Banner: &Banner{}, Video: &Video{}, Audio: &Audio{}, Native: &Native{}}}, App: &App{}, Device: &Device{Geo: &Geo{}}, User: &User{Data: []Data{}, EIDs: []EID{}}, Source: &Source{}, Regs: &Regs{}}},
		{"strings to escape", &BidRequest{ID: "\"\\\b\f\n\r\t\x00\x1f\x7f<>&\u2028\u2029é\xff\xc3", Cur: []string{"\u00e9\U0001F600"}}},
		{"floats", &BidRequest{Imp: []Imp{{BidFloor: 1e-7}, {BidFloor: 1e21}, {BidFloor: 123456789.125}, {BidFloor: -2.5e-9}, {BidFloor: 0.1}},
			Device: &Device{Geo: &Geo{Lat: ptr(0.0), Lon: ptr(1e300)}}}},
		{"infinite floor", &BidRequest{Imp: []Imp{{BidFloor: math.Inf(1)}}}},
		{"NaN latitude", &BidRequest{Device: &Device{Geo: &Geo{Lat: ptr(math.NaN())}}}},
		{"ext that is not JSON", &BidRequest{Ext: json.RawMessage(`{"a":}`)}},
		{"negative numbers", &BidRequest{Test: -1, At: -2, Tmax: -3, Imp: []Imp{{Secure: ptr[int8](-128), Exp: math.MinInt64, Rwdd: -1,
			Video: &Video{MinDuration: math.MinInt64, StartDelay: ptr(-2), Skip: ptr[int8](0), Plcmt: -1}}}}},
		{"video ext that is not JSON", &BidRequest{Imp: []Imp{{Video: &Video{Ext: json.RawMessage(`[`)}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkAppend(t, tt.req) })
	}
}

// TestAppendBidRequestRandom compares the two on random requests: random strings,
// numbers, nil and non-nil pointers and slices, valid and invalid exts.
func TestAppendBidRequestRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	exts := []json.RawMessage{nil, json.RawMessage(`{}`), json.RawMessage(` [ 1 , "a b" ] `), json.RawMessage(`{"x":`), json.RawMessage(`"\u2028<"`)}
	for i := range 3000 {
		v, ok := quick.Value(reflect.TypeFor[BidRequest](), rng)
		if !ok {
			t.Fatal("quick.Value failed")
		}
		r := v.Interface().(BidRequest)
		// quick fills RawMessage with random bytes, almost never JSON: use a set.
		setExts(reflect.ValueOf(&r).Elem(), func() json.RawMessage { return exts[rng.Intn(len(exts))] })
		if i%7 == 0 {
			r.Imp = nil
		}
		checkAppend(t, &r)
	}
}

// setExts replaces every json.RawMessage reachable from v by ext().
func setExts(v reflect.Value, ext func() json.RawMessage) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			setExts(v.Elem(), ext)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			setExts(v.Field(i), ext)
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.Set(reflect.ValueOf(ext()))
			return
		}
		for i := range v.Len() {
			setExts(v.Index(i), ext)
		}
	}
}

func BenchmarkAppendBidRequest(b *testing.B) {
	r := &BidRequest{ID: "0b7a3c52-5d7e-4f1a-9a43-3f7c2d1e9b86", Imp: []Imp{{ID: "1", TagID: "demo-feed", BidFloor: 0.5, BidFloorCur: "USD",
		Secure: ptr[int8](1), Banner: &Banner{Format: []Format{{W: 300, H: 250}, {W: 320, H: 50}}, W: 300, H: 250},
		Native: &Native{Request: `{"ver":"1.2","context":1,"plcmttype":1,"plcmtcnt":1,"assets":[{"id":1,"required":1,"title":{"len":90}}]}`, Ver: "1.2"},
		Ext:    json.RawMessage(`{"creative_key":"ck-123"}`)}},
		App:    &App{Name: "Example News", Bundle: "com.example.news", Ver: "4.2.0", Publisher: &Publisher{ID: "pub-1"}},
		Device: &Device{Lmt: ptr[int8](0), UA: "Mozilla/5.0 (Linux; Android 14; Pixel 8)", IP: "127.0.0.1", Make: "Google", Model: "Pixel 8", OS: "android", OSV: "14", IFA: "6f1c2c4e-4a9e-4b5e-9c3a-0d6e7b8a9f10"},
		User:   &User{Consent: "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"}, Tmax: 250, Cur: []string{"USD"}, Bcat: []string{"IAB25", "IAB26"},
		Badv: []string{"blocked.example"}, Source: &Source{TID: "0b7a3c52-5d7e-4f1a-9a43-3f7c2d1e9b86"}, Regs: &Regs{GDPR: ptr[int8](1), USPrivacy: "1YNN"}}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			if _, err := AppendBidRequest(buf[:0], r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
