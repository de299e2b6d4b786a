package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// typicalAnswer is a bid answer as upstreams write it.
var typicalAnswer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Openrtb-Version: 2.6\r\n" +
	"Date: Wed, 02 Dec 2026 00:52:59 GMT\r\nContent-Length: 527\r\n\r\n" +
	`{"id":"r","seatbid":[{"seat":"s","bid":[{"id":"b","impid":"1","price":1.5,"adm":"` + strings.Repeat("m", 453) + `"}]}]}`

// answerCases are answers that readPlainAnswer reads (plain) or leaves to
// http.ReadResponse. They seed FuzzReadAnswer, and FuzzH1Answer with them.
var answerCases = []struct {
	name  string
	raw   string
	plain bool
}{
	{"typical", typicalAnswer, true},
	{"no bid", "HTTP/1.1 204 No Content\r\nDate: Wed, 02 Dec 2026 00:52:59 GMT\r\n\r\n", true},
	{"no headers", "HTTP/1.1 204 No Content\r\n\r\n", true},
	{"empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	{"the next answer after it", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n", true},
	{"lowercase names", "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nx-openrtb-version: 2.6\r\n\r\nok", true},
	{"uppercase names", "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 2\r\nX-ID: a\r\n\r\nok", true},
	{"odd token names", "HTTP/1.1 200 OK\r\nX_A!#$%&'*+.^`|~9: v\r\nContent-Length: 0\r\n\r\n", true},
	{"repeated headers", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-A: 1\r\nset-cookie: b=2\r\nSet-Cookie: c=3\r\nContent-Length: 0\r\n\r\n", true},
	{"spaces and tabs around values", "HTTP/1.1 200 OK\r\nX-A:  \t a b \t \r\nX-B:\r\nX-C:x\r\nContent-Length:   2  \r\n\r\nok", true},
	{"obs-text in a value", "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9 \xff\r\nContent-Length: 0\r\n\r\n", true},
	{"content length with leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok", true},
	{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye", true},
	{"connection keep-alive, close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", true},
	{"connection CLOSE in a list", "HTTP/1.1 200 OK\r\nConnection: ,\tCLOSE ,x\r\nContent-Length: 0\r\n\r\n", true},
	{"connection close on a second line", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nconnection: close\r\nContent-Length: 0\r\n\r\n", true},
	{"connection closed, not close", "HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n", true},
	{"connection close with a long s", "HTTP/1.1 200 OK\r\nConnection: clo\u017fe\r\nContent-Length: 0\r\n\r\n", true},
	{"connection keep-alive", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
	{"pragma no-cache", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n", true},
	{"pragma no-cache with cache-control", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n", true},
	{"pragma other", "HTTP/1.1 200 OK\r\nPragma: x\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n", true},
	{"missing reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", true},
	{"empty reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", true},
	{"reason with spaces", "HTTP/1.1 503 Service  Unavailable \r\nContent-Length: 4\r\n\r\nbusy", true},
	{"204 with a content length", "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc", true},
	{"304 with a content length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", true},
	{"599", "HTTP/1.1 599 Odd\r\nContent-Length: 1\r\n\r\nz", true},
	{"trailer without chunked", "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nContent-Length: 0\r\n\r\n", true},
	{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true},
	{"nothing: http.ReadResponse's error", "", true},

	{"head not complete", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false},
	{"body until close", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", false},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
	{"identity transfer encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nok", false},
	{"two equal content lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false},
	{"two content lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!", false},
	{"content length list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false},
	{"content length with a sign", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
	{"negative content length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", false},
	{"empty content length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok", false},
	{"content length past int64", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nok", false},
	{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"HTTP/2.0", "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"lowercase protocol", "http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"two spaces before the code", "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"four-digit code", "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"code not digits", "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"code with a sign", "HTTP/1.1 +20 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"interim then final", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", false},
	{"early hints", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false},
	{"code under 100", "HTTP/1.1 099 Odd\r\nContent-Length: 1\r\n\r\nz", false},
	{"code 600", "HTTP/1.1 600 Odd\r\nContent-Length: 1\r\n\r\nz", false},
	{"code 999", "HTTP/1.1 999 Odd\r\nContent-Length: 1\r\n\r\nz", false},
	{"header without colon", "HTTP/1.1 200 OK\r\nX-A\r\nContent-Length: 0\r\n\r\n", false},
	{"empty name", "HTTP/1.1 200 OK\r\n: v\r\nContent-Length: 0\r\n\r\n", false},
	{"space before the colon", "HTTP/1.1 200 OK\r\nX-A : v\r\nContent-Length: 0\r\n\r\n", false},
	{"space in a name", "HTTP/1.1 200 OK\r\nX A: v\r\nContent-Length: 0\r\n\r\n", false},
	{"non-ASCII name", "HTTP/1.1 200 OK\r\nX-\xc3\xa9: v\r\nContent-Length: 0\r\n\r\n", false},
	{"folded line", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", false},
	{"folded with a tab", "HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n", false},
	{"first header folded", "HTTP/1.1 200 OK\r\n X-A: a\r\nContent-Length: 0\r\n\r\n", false},
	{"bare LF lines", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false},
	{"bare LF in a value", "HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n", false},
	{"bare LF ends the head early", "HTTP/1.1 200 OK\r\nX-A: a\r\n\nX-B: b\r\nContent-Length: 0\r\n\r\n", false},
	{"CR in a value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", false},
	{"NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n", false},
	{"DEL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 0\r\n\r\n", false},
	{"control byte in the reason", "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", false},
	{"garbage", "garbage\r\n\r\n", false},
}

// splitReader gives its parts one per Read, as a connection gives what has come.
type splitReader struct{ parts []string }

func (r *splitReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && r.parts[0] == "" {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// newSplitReader reads raw as a connection that gives its first split bytes,
// then the rest.
func newSplitReader(raw string, split int) *bufio.Reader {
	split = min(split, len(raw))
	return bufio.NewReaderSize(&splitReader{parts: []string{raw[:split], raw[split:]}}, 8<<10)
}

// readsAsReadResponse reads raw, coming in two parts (its first split bytes,
// then the rest), with readPlainAnswer and with http.ReadResponse, and fails t
// unless readPlainAnswer left raw untouched or read it as http.ReadResponse does:
// the same Response, body and bytes after the body. It reports whether
// readPlainAnswer read it.
func readsAsReadResponse(t *testing.T, raw string, split int) bool {
	t.Helper()
	req := &http.Request{Method: http.MethodPost}
	br := newSplitReader(raw, split)
	got, ok, err := readPlainAnswer(br, req)
	if !ok {
		if rest, _ := io.ReadAll(br); string(rest) != raw {
			t.Fatalf("left to http.ReadResponse after consuming some of it: %q remains of %q", rest, raw)
		}
		return false
	}
	wantBr := newSplitReader(raw, split)
	want, wantErr := http.ReadResponse(wantBr, req)
	switch {
	case err != nil || wantErr != nil:
		if err != wantErr {
			t.Fatalf("error %v; http.ReadResponse's %v, reading %q", err, wantErr, raw)
		}
		return true
	}
	gotFields := []any{got.Status, got.StatusCode, got.Proto, got.ProtoMajor, got.ProtoMinor, got.Header,
		got.ContentLength, got.TransferEncoding, got.Close, got.Uncompressed, got.Trailer, got.Request, got.Body == http.NoBody}
	wantFields := []any{want.Status, want.StatusCode, want.Proto, want.ProtoMajor, want.ProtoMinor, want.Header,
		want.ContentLength, want.TransferEncoding, want.Close, want.Uncompressed, want.Trailer, want.Request, want.Body == http.NoBody}
	if !reflect.DeepEqual(gotFields, wantFields) {
		t.Fatalf("reading %q:\n fast:             %#v\n http.ReadResponse: %#v", raw, gotFields, wantFields)
	}
	body, err := io.ReadAll(got.Body)
	wantBody, wantErr := io.ReadAll(want.Body)
	if !bytes.Equal(body, wantBody) || err != wantErr {
		t.Fatalf("reading %q: body %q, %v; http.ReadResponse's %q, %v", raw, body, err, wantBody, wantErr)
	}
	rest, _ := io.ReadAll(br)
	wantRest, _ := io.ReadAll(wantBr)
	if !bytes.Equal(rest, wantRest) {
		t.Fatalf("reading %q: %q left after the body; after http.ReadResponse's, %q", raw, rest, wantRest)
	}
	return true
}

// TestReadPlainAnswer: the plain answers are read by readPlainAnswer as
// http.ReadResponse reads them, when their head came in the first read, and the
// others are left to http.ReadResponse.
func TestReadPlainAnswer(t *testing.T) {
	for _, c := range answerCases {
		t.Run(c.name, func(t *testing.T) {
			if got := readsAsReadResponse(t, c.raw, len(c.raw)); got != c.plain {
				t.Errorf("read by the fast path: %t; want %t", got, c.plain)
			}
			head := strings.Index(c.raw, "\r\n\r\n") + 4
			for split := 1; split < len(c.raw); split++ {
				got := readsAsReadResponse(t, c.raw, split)
				if want := c.plain && split >= head; got != want {
					t.Fatalf("head of %d bytes, %d in the first read: read by the fast path: %t; want %t", head, split, got, want)
				}
			}
		})
	}
}

// TestReadPlainAnswerLeavesHEAD: an answer to HEAD has a Content-Length and no
// body; http.ReadResponse reads it.
func TestReadPlainAnswerLeavesHEAD(t *testing.T) {
	br := newSplitReader(typicalAnswer, len(typicalAnswer))
	if _, ok, _ := readPlainAnswer(br, &http.Request{Method: http.MethodHead}); ok {
		t.Error("an answer to HEAD read by the fast path")
	}
}

// FuzzReadAnswer: whatever the bytes and however they come, readPlainAnswer
// leaves them untouched or reads them as http.ReadResponse does.
func FuzzReadAnswer(f *testing.F) {
	for _, c := range answerCases {
		f.Add(c.raw, uint16(len(c.raw)))
		f.Add(c.raw, uint16(len(c.raw)/2))
	}
	f.Fuzz(func(t *testing.T, raw string, split uint16) {
		readsAsReadResponse(t, raw, int(split))
	})
}

// BenchmarkReadAnswer reads the typical answer, head and body, with
// http.ReadResponse and with readPlainAnswer.
func BenchmarkReadAnswer(b *testing.B) {
	req := &http.Request{Method: http.MethodPost}
	for _, c := range []struct {
		name string
		read func(*bufio.Reader) (*http.Response, bool, error)
	}{
		{"readresponse", func(br *bufio.Reader) (*http.Response, bool, error) {
			resp, err := http.ReadResponse(br, req)
			return resp, true, err
		}},
		{"fast", func(br *bufio.Reader) (*http.Response, bool, error) { return readPlainAnswer(br, req) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := strings.NewReader(typicalAnswer)
			br := bufio.NewReaderSize(src, 8<<10)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(typicalAnswer)
				br.Reset(src)
				resp, ok, err := c.read(br)
				if !ok || err != nil {
					b.Fatalf("read: %t, %v", ok, err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
