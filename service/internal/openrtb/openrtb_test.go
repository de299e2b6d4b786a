package openrtb_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"asap/service/internal/openrtb"
	"asap/service/internal/openrtb/openrtbtest"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The official example requests decode into BidRequest and, encoded again, still
// validate: the subset drops fields it does not know but never breaks a request.
func TestExampleRequestsRoundTrip(t *testing.T) {
	for _, ex := range openrtbtest.Examples(t, "bid-requests") {
		t.Run(ex.Name, func(t *testing.T) {
			openrtbtest.ValidateRequest(t, ex.Body)
			var req openrtb.BidRequest
			if err := json.Unmarshal(ex.Body, &req); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if req.ID == "" || len(req.Imp) == 0 {
				t.Fatalf("got id %q and %d imps; want both", req.ID, len(req.Imp))
			}
			out, err := openrtb.AppendBidRequest(nil, &req)
			if err != nil {
				t.Fatal(err)
			}
			openrtbtest.ValidateRequest(t, out)
			keptFields(t, ex.Body, out)
		})
	}
}

// keptFields fails when a member of an imp's banner, video, audio or native that
// the round trip kept (the subset knows its name) changed value on the way.
func keptFields(t *testing.T, in, out []byte) {
	t.Helper()
	type imps struct {
		Imp []map[string]map[string]json.RawMessage `json:"imp"`
	}
	var a, b imps
	// The imps' other members (strings, numbers) do not decode into maps: ignore the error.
	_ = json.Unmarshal(in, &a)
	_ = json.Unmarshal(out, &b)
	for i := range a.Imp {
		for _, format := range []string{"banner", "video", "audio", "native"} {
			for k, v := range a.Imp[i][format] {
				got, ok := b.Imp[i][format][k]
				if !ok {
					continue // a field the subset does not model
				}
				var x, y any
				if json.Unmarshal(v, &x) != nil || json.Unmarshal(got, &y) != nil || !reflect.DeepEqual(x, y) {
					t.Errorf("imp[%d].%s.%s: got %s; want %s", i, format, k, got, v)
				}
			}
		}
	}
}

// The example video request keeps its video object (the fields ASAP models).
func TestVideoExampleKeepsVideo(t *testing.T) {
	for _, ex := range openrtbtest.Examples(t, "bid-requests") {
		if ex.Name != "video" {
			continue
		}
		var req openrtb.BidRequest
		if err := json.Unmarshal(ex.Body, &req); err != nil {
			t.Fatal(err)
		}
		v := req.Imp[0].Video
		if v == nil || len(v.MIMEs) != 3 || v.MaxDuration != 30 || v.StartDelay == nil || *v.StartDelay != 0 ||
			v.BoxingAllowed == nil || *v.BoxingAllowed != 1 || len(v.CompanionType) != 2 {
			t.Fatalf("got video %+v; want the example's", v)
		}
		return
	}
	t.Fatal("no video example")
}

// A request offering every format ASAP sends validates against the schema.
func TestEveryFormatValidates(t *testing.T) {
	zero, one := 0, int8(1)
	req := &openrtb.BidRequest{ID: "r", Imp: []openrtb.Imp{{
		ID: "1", Instl: 1, Rwdd: 1,
		Banner: &openrtb.Banner{Format: []openrtb.Format{{W: 320, H: 480}}},
		Video: &openrtb.Video{MIMEs: []string{"video/mp4"}, MinDuration: 5, MaxDuration: 30, StartDelay: &zero,
			Protocols: []int{2, 3, 5, 6, 7, 8}, W: 320, H: 480, Plcmt: 3, Skip: &one, SkipAfter: 5, API: []int{7}},
		Audio:  &openrtb.Audio{MIMEs: []string{"audio/mp4"}, MaxDuration: 30, Stitched: &one},
		Native: &openrtb.Native{Request: `{"ver":"1.2","assets":[{"id":1,"required":1,"title":{"len":90}}]}`, Ver: "1.2"},
	}}}
	out, err := openrtb.AppendBidRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	openrtbtest.ValidateRequest(t, out)
}

func TestExampleResponsesDecode(t *testing.T) {
	for _, ex := range openrtbtest.Examples(t, "bid-responses") {
		t.Run(ex.Name, func(t *testing.T) {
			openrtbtest.ValidateResponse(t, ex.Body)
			var resp openrtb.BidResponse
			if err := json.Unmarshal(ex.Body, &resp); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(resp.SeatBid) == 0 || len(resp.SeatBid[0].Bid) == 0 || resp.SeatBid[0].Bid[0].Price <= 0 {
				t.Fatalf("got %+v; want a priced bid", resp)
			}
		})
	}
}

// Unknown fields and extensions are tolerated, and ext survives as raw JSON.
func TestDecodeToleratesUnknownFields(t *testing.T) {
	body := `{"id":"r","future":{"x":1},"seatbid":[{"bid":[{"id":"b","impid":"1","price":1.5,"newfield":[1],"ext":{"k":"v"}}]}]}`
	var resp openrtb.BidResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got, want := string(resp.SeatBid[0].Bid[0].Ext), `{"k":"v"}`; got != want {
		t.Errorf("got ext %s; want %s", got, want)
	}
}

// The schema helper rejects what it must, so a passing validation means something.
func TestSchemaRejectsInvalidRequests(t *testing.T) {
	s := openrtbtest.Load(t)
	for _, body := range []string{
		`{"id":"x"}`,
		`{"id":"x","imp":[]}`,
		`{"id":"x","imp":[{"id":"1","bidfloor":-1}]}`,
		`{"id":"x","imp":[{"id":"1"}],"regs":{"gdpr":2}}`,
		`{"id":"x","imp":[{"id":"1","native":{}}]}`,
		`{"id":"x","imp":[{"id":"1","video":{}}]}`,
		`{"id":"x","imp":[{"id":"1","video":{"mimes":["video/mp4"],"skip":2}}]}`,
		`{"id":"x","imp":[{"id":"1","rwdd":2}]}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.BidRequest.Validate(inst); err == nil {
			t.Errorf("%s validated; want an error", body)
		}
	}
}
