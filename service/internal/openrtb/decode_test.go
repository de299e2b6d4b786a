package openrtb

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
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
	{"key in another case", `{"ID":"a"}`, true},
	{"seatBid is not seatbid", `{"id":"a","seatBid":[{"bid":[{"id":"b","price":1}]}]}`, true},
	{"wrong case beside the right one", `{"seatbid":[{"bid":[{"Price":2,"price":1,"ID":"x","id":"b"}]}],"Id":"y","id":"a"}`, true},
	{"same key twice", `{"seatbid":[{"seat":"a","bid":[]}],"seatbid":[{"bid":[]}]}`, false},
	{"same bid field twice", `{"seatbid":[{"bid":[{"price":1,"price":2}]}]}`, false},
	{"same key twice in ext", `{"id":"a","ext":{"k":1,"k":2}}`, true},
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
	{"null elements", `{"seatbid":[null,{"bid":[null]}]}`, false},
	{"object for an array", `{"seatbid":{}}`, false},
	{"array for an object", `{"seatbid":[[]]}`, false},
	{"empty input", ``, false},
}

func TestDecodeBidResponseFastAndExact(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			var fast BidResponse
			if got := decodeFast([]byte(tt.body), &fast); got != tt.wantFast {
				t.Errorf("fast decoder took it: %t; want %t", got, tt.wantFast)
			}
			checkDecoders(t, []byte(tt.body))
		})
	}
}

// Names are OpenRTB's, matched exactly; a field given twice is an error.
func TestDecodeBidResponseExactNames(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    BidResponse
		wantErr bool
	}{
		{"seatBid skipped", `{"id":"a","seatBid":[{"bid":[{"id":"b","price":1}]}]}`, BidResponse{ID: "a"}, false},
		{"ID skipped", `{"ID":"a"}`, BidResponse{}, false},
		{"right case wins whatever the order", `{"Id":"x","id":"a","iD":"y"}`, BidResponse{ID: "a"}, false},
		{"bid fields in another case skipped", `{"seatbid":[{"Bid":[{"id":"x"}],"bid":[{"ID":"y","id":"b","Price":9,"price":1,"CrID":"z"}]}]}`,
			BidResponse{SeatBid: []SeatBid{{Bid: []Bid{{ID: "b", Price: 1}}}}}, false},
		{"escaped key is its unescaped name", `{"\u0069d":"a"}`, BidResponse{ID: "a"}, false},
		{"escaped key in another case skipped", `{"\u0049D":"a"}`, BidResponse{}, false},
		{"id twice", `{"id":"a","id":"b"}`, BidResponse{}, true},
		{"seatbid twice", `{"seatbid":[],"seatbid":[]}`, BidResponse{}, true},
		{"seat twice", `{"seatbid":[{"seat":"a","seat":"b"}]}`, BidResponse{}, true},
		{"price twice", `{"seatbid":[{"bid":[{"price":1,"price":2}]}]}`, BidResponse{}, true},
		{"unknown key twice", `{"x":1,"x":2,"id":"a"}`, BidResponse{ID: "a"}, false},
		{"ext keeps its own repetitions", `{"ext":{"k":1,"k":2}}`, BidResponse{Ext: json.RawMessage(`{"k":1,"k":2}`)}, false},
		{"null", `null`, BidResponse{}, false},
		{"type error", `{"id":1}`, BidResponse{}, true},
		{"syntax error", `{"id":"a",}`, BidResponse{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got BidResponse
			err := DecodeBidResponse([]byte(tt.body), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v; want error %t", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v; want %#v", got, tt.want)
			}
		})
	}
}

// The official example responses decode as encoding/json decodes them.
func TestDecodeBidResponseExamples(t *testing.T) {
	for _, ex := range openrtbtest.Examples(t, "bid-responses") {
		t.Run(ex.Name, func(t *testing.T) {
			if !plainNames(ex.Body) {
				t.Fatal("an official example repeats a name or spells one in another case")
			}
			checkDecoders(t, ex.Body)
		})
	}
}

// checkDecoders fails unless DecodeBidResponse gives what decodeExact gives,
// error or value; unless the fast path, when it takes the input, agrees; and,
// when no name of the document is repeated or differs from another only in case
// (where exact names and encoding/json's cannot differ), unless both give what
// json.Unmarshal gives.
func checkDecoders(t *testing.T, body []byte) {
	t.Helper()
	var exact, got, fast BidResponse
	exactErr := decodeExact(body, &exact)
	gotErr := DecodeBidResponse(body, &got)
	if (gotErr != nil) != (exactErr != nil) {
		t.Fatalf("DecodeBidResponse error %v; decodeExact error %v", gotErr, exactErr)
	}
	if exactErr == nil && !reflect.DeepEqual(got, exact) {
		t.Fatalf("DecodeBidResponse:\n%#v\ndecodeExact:\n%#v", got, exact)
	}
	if decodeFast(body, &fast) {
		if exactErr != nil {
			t.Fatalf("the fast decoder took an input decodeExact refuses (%v)", exactErr)
		}
		if !reflect.DeepEqual(fast, exact) {
			t.Fatalf("fast decoder:\n%#v\ndecodeExact:\n%#v", fast, exact)
		}
	}
	if !plainNames(body) {
		return
	}
	var want BidResponse
	wantErr := json.Unmarshal(body, &want)
	if (exactErr != nil) != (wantErr != nil) {
		t.Fatalf("decodeExact error %v; json.Unmarshal error %v", exactErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(exact, want) {
		t.Fatalf("decodeExact:\n%#v\njson.Unmarshal:\n%#v", exact, want)
	}
}

// plainNames reports whether body is valid JSON in which no object repeats a
// name, even in another case: where encoding/json's matching of names and
// OpenRTB's exact one cannot tell apart. It looks at every object, ext included.
func plainNames(body []byte) bool {
	if !json.Valid(body) {
		return true // both decoders refuse it
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object  bool
		keyNext bool
		names   map[string]bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return true // the end
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.keyNext {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			name := strings.ToLower(tok.(string))
			if top.names[name] || tok.(string) != strings.ToLower(tok.(string)) && knownName(name) {
				return false
			}
			top.names[name] = true
			top.keyNext = false
			continue
		}
		if top != nil && top.object {
			top.keyNext = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keyNext: true, names: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// knownName reports whether lower is a field of BidResponse, SeatBid or Bid: a
// name that encoding/json would match in another case.
func knownName(lower string) bool {
	for _, names := range [][]string{responseFields, seatBidFields, bidFields} {
		if slices.Contains(names, lower) {
			return true
		}
	}
	return false
}

func FuzzDecodeBidResponse(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body))
	}
	f.Add([]byte(strings.Repeat(`{"ext":`, 50) + "1" + strings.Repeat("}", 50)))
	f.Fuzz(func(t *testing.T, body []byte) { checkDecoders(t, body) })
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
