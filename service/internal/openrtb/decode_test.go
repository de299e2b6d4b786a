package openrtb

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"asap/service/internal/openrtb/openrtbtest"
)

// demoResponse is the demo ad server's answer, markup escaped as encoding/json
// escapes HTML.
const demoResponse = `{"id":"0b7a3c52","seatbid":[{"bid":[{"id":"fixed-bid","impid":"1","price":1.5,` +
	`"nurl":"http://127.0.0.1:8081/win?auction=${AUCTION_ID}\u0026price=${AUCTION_PRICE}",` +
	`"burl":"http://127.0.0.1:8081/imp?auction=${AUCTION_ID}","adm":"\u003cdiv class=\"demo-ad\"\u003eDemo ad, $${AUCTION_PRICE} CPM\u003c/div\u003e",` +
	`"adid":"demo-ad-1","adomain":["demo-advertiser.example"],"cid":"demo-campaign-1","crid":"demo-creative-1","w":300,"h":250,"mtype":1}],` +
	`"seat":"demo-seat"}],"bidid":"fixed","cur":"USD"}`

// decodeCases are inputs for the fast path, the fallback and errors; the fuzz
// target starts from them.
var decodeCases = []struct {
	name     string
	body     string
	wantFast bool // the fast decoder takes it (else encoding/json does)
}{
	{"demo", demoResponse, true},
	{"empty", `{}`, true},
	{"no bid", `{"id":"x","seatbid":[]}`, true},
	{"spaces and every field", " {\n\t\"id\" : \"a\" , \"bidid\":\"b\",\"cur\":\"EUR\",\"customdata\":\"c\",\"nbr\":2,\"ext\": {\"a\" : [1, {\"b\":null}]} ," +
		`"seatbid":[{"seat":"s","group":1,"ext":[],"bid":[{"id":"1","impid":"1","price":-0.5e-3,"lurl":"l","iurl":"i","bundle":"b",` +
		`"cat":["IAB1","IAB2"],"attr":[1,2,3],"dealid":"d","exp":300,"ext":"x","w":0,"h":-1}]}]} `, true},
	{"unknown fields skipped", `{"id":"a","future":{"x":[true,false,null,1.5e3,"s\"\\\/\u00e9"]},"seatbid":[{"bid":[{"id":"b","new":[],"price":1}]}]}`, true},
	{"escapes", `{"id":"\"\\\/\b\f\n\r\t\u0000\u20ac\u00e9 é"}`, true},
	{"key in another case", `{"ID":"a"}`, false},
	{"same key twice", `{"seatbid":[{"seat":"a","bid":[]}],"seatbid":[{"bid":[]}]}`, false},
	{"unknown key twice", `{"x":1,"x":2,"id":"a"}`, true},
	{"null field", `{"id":null,"ext":null}`, false},
	{"surrogate pair", `{"id":"\ud83d\ude00"}`, false},
	{"invalid utf-8", "{\"id\":\"\xff\"}", false},
	{"int overflow", `{"seatbid":[{"group":300,"bid":[]}]}`, false},
	{"fraction in an int", `{"seatbid":[{"bid":[{"w":1.5}]}]}`, false},
	{"string for a number", `{"seatbid":[{"bid":[{"price":"1"}]}]}`, false},
	{"not an object", `[]`, false},
	{"null", `null`, false},
	{"trailing data", `{"id":"a"} {}`, false},
	{"truncated", `{"id":"a"`, false},
	{"bad number", `{"seatbid":[{"bid":[{"price":01}]}]}`, false},
	{"raw control character", "{\"id\":\"a\nb\"}", false},
	{"key with an escape", `{"i\u0064":"a"}`, false},
	{"empty input", ``, false},
}

func TestDecodeBidResponseMatchesUnmarshal(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			var fast BidResponse
			if got := decodeFast([]byte(tt.body), &fast); got != tt.wantFast {
				t.Errorf("fast decoder took it: %t; want %t", got, tt.wantFast)
			}
			checkAgainstUnmarshal(t, []byte(tt.body))
		})
	}
}

// The official example responses decode as encoding/json decodes them.
func TestDecodeBidResponseExamples(t *testing.T) {
	for _, ex := range openrtbtest.Examples(t, "bid-responses") {
		t.Run(ex.Name, func(t *testing.T) { checkAgainstUnmarshal(t, ex.Body) })
	}
}

// checkAgainstUnmarshal fails unless DecodeBidResponse gives what json.Unmarshal
// gives, error or value, and unless the fast path, when it takes the input, agrees.
func checkAgainstUnmarshal(t *testing.T, body []byte) {
	t.Helper()
	var want, got, fast BidResponse
	wantErr := json.Unmarshal(body, &want)
	gotErr := DecodeBidResponse(body, &got)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("DecodeBidResponse error %v; json.Unmarshal error %v", gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeBidResponse:\n%#v\njson.Unmarshal:\n%#v", got, want)
	}
	if decodeFast(body, &fast) {
		if wantErr != nil {
			t.Fatalf("the fast decoder took an input json.Unmarshal refuses (%v)", wantErr)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("fast decoder:\n%#v\njson.Unmarshal:\n%#v", fast, want)
		}
	}
}

func FuzzDecodeBidResponse(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body))
	}
	f.Add([]byte(strings.Repeat(`{"ext":`, 50) + "1" + strings.Repeat("}", 50)))
	f.Fuzz(func(t *testing.T, body []byte) { checkAgainstUnmarshal(t, body) })
}

func BenchmarkDecodeBidResponse(b *testing.B) {
	body := []byte(demoResponse)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var r BidResponse
			if err := DecodeBidResponse(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var r BidResponse
			if err := json.Unmarshal(bytes.Clone(body), &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
