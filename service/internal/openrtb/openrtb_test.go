package openrtb_test

import (
	"bytes"
	"encoding/json"
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
			out, err := json.Marshal(&req)
			if err != nil {
				t.Fatal(err)
			}
			openrtbtest.ValidateRequest(t, out)
		})
	}
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
