package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The answers of bid requests and win notices are nearly all plain: HTTP/1.1, a
// final status, a few "Name: value" headers and a Content-Length, the whole head
// in the first read from the connection. http.ReadResponse, made for any answer,
// costs a string per line and per value (textproto) and more: some 8% of ASAP's
// CPU on GET /v2/ad. readPlainAnswer reads a plain answer's head as one string,
// its keys and values cut from it, into the same *http.Response (FuzzReadAnswer
// holds it to http.ReadResponse), and leaves anything else to http.ReadResponse
// untouched.

// headEnd ends an answer's head: the CRLF of its last line and an empty line.
var headEnd = []byte("\r\n\r\n")

// readPlainAnswer reads the status line and headers of a plain answer (see
// scanHead) from br and returns the *http.Response that http.ReadResponse would
// return for req, its body the next bytes of br. It looks only at what br holds,
// filling br first when it holds nothing, as http.ReadResponse would.
//
// ok false: the answer is not plain, or its head is not all in br; nothing was
// consumed and http.ReadResponse must read it. An error is the one of filling br,
// as http.ReadResponse would return it.
func readPlainAnswer(br *bufio.Reader, req *http.Request) (resp *http.Response, ok bool, err error) {
	if req.Method == http.MethodHead {
		return nil, false, nil // an answer to HEAD has its length without its body
	}
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the answer has not even begun
			}
			return nil, true, err
		}
	}
	buf, _ := br.Peek(br.Buffered()) // never blocks: no more than br holds
	end := bytes.Index(buf, headEnd)
	if end < 0 {
		return nil, false, nil
	}
	head := string(buf[:end+2]) // every line with its CRLF; keys and values are cut from it
	var fields [maxPlainFields]field
	h, ok := scanHead(head, &fields)
	if !ok {
		return nil, false, nil
	}
	resp = newAnswer(h, fields[:h.lines], br, req)
	br.Discard(end + len(headEnd))
	return resp, true, nil
}

// maxPlainFields bounds the header lines of a plain answer: they are kept on the
// stack until the whole head is known to be plain. Bid answers have a handful.
const maxPlainFields = 32

// field is a header line: its name as the line has it, and its value.
type field struct{ name, value string }

// plainHead is what scanHead finds in a plain answer's head.
type plainHead struct {
	status string // "200 OK": the status line but its protocol
	code   int
	length int64 // the body's length: Content-Length, 0 for 204 and 304
	lines  int   // header lines
}

// scanHead checks that head (lines ending in CRLF) is a plain answer's: a plain
// status line, at most maxPlainFields plain header lines, at most one
// Content-Length and no Transfer-Encoding. Its body must have a Content-Length,
// but for 204 and 304, which have none: a body read until the connection closes
// is left to http.ReadResponse with the rest. The header lines go in fields.
func scanHead(head string, fields *[maxPlainFields]field) (plainHead, bool) {
	line, rest, ok := cutLine(head)
	if !ok {
		return plainHead{}, false
	}
	status, code, ok := statusLine(line)
	if !ok {
		return plainHead{}, false
	}
	h := plainHead{status: status, code: code, length: -1}
	for rest != "" {
		if line, rest, ok = cutLine(rest); !ok || h.lines == maxPlainFields {
			return plainHead{}, false
		}
		f, ok := headerLine(line)
		if !ok {
			return plainHead{}, false
		}
		fields[h.lines] = f
		h.lines++
		switch {
		// The names are tokens (headerLine), ASCII only: EqualFold folds ASCII case alone.
		case strings.EqualFold(f.name, "Content-Length"):
			n, err := strconv.ParseUint(f.value, 10, 63) // net/http's rule: digits, no sign
			if h.length >= 0 || err != nil {
				return plainHead{}, false // a second one (net/http merges equal ones), or not a number
			}
			h.length = int64(n)
		case strings.EqualFold(f.name, "Transfer-Encoding"):
			return plainHead{}, false
		}
	}
	if code == http.StatusNoContent || code == http.StatusNotModified {
		h.length = 0 // whatever its Content-Length says, as net/http reads it
	}
	if h.length < 0 {
		return plainHead{}, false
	}
	return h, true
}

// cutLine cuts the first line off s, without its CRLF; ok false when it ends in a
// bare LF, which net/http takes for a line's end too.
func cutLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", false
	}
	return s[:i-1], s[i+1:], true
}

// statusLine parses a plain status line: "HTTP/1.1 ", a status code from 200 to
// 599 (interim answers go through http.ReadResponse), then a space and a reason
// of header-value bytes, or nothing. status is the line but its protocol, as
// net/http's Response.Status has it ("200 OK", or "200" without a reason).
func statusLine(line string) (status string, code int, ok bool) {
	status, ok = strings.CutPrefix(line, "HTTP/1.1 ")
	if !ok || len(status) < 3 || len(status) > 3 && status[3] != ' ' {
		return "", 0, false
	}
	for i := range 3 {
		c := status[i]
		if c < '0' || c > '9' {
			return "", 0, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || !httpguts.ValidHeaderFieldValue(status[3:]) {
		return "", 0, false
	}
	return status, code, true
}

// headerLine splits a plain header line: a token name, a colon, and a value of
// header-value bytes, trimmed of spaces and tabs at both ends as net/http trims
// it. A name with a space before the colon, or a line folded onto the next one,
// is not plain: the next line would start with a space, not a token.
func headerLine(line string) (field, bool) {
	name, value, ok := strings.Cut(line, ":")
	if !ok || name == "" || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
		return field{}, false
	}
	return field{name, trimSpace(value)}, true
}

// trimSpace trims spaces and tabs, and only those, at both ends of s.
func trimSpace(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// plainResponse is an answer and its body, in one allocation.
type plainResponse struct {
	resp http.Response
	body answerBody
}

// newAnswer builds the *http.Response of a plain answer's head, which scanHead
// found to be h with fields, as http.ReadResponse would build it for req. Its
// strings are cut from the head's, but for the names that are not canonical.
func newAnswer(h plainHead, fields []field, br *bufio.Reader, req *http.Request) *http.Response {
	a := &plainResponse{resp: http.Response{
		Status:        h.status,
		StatusCode:    h.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        make(http.Header, len(fields)),
		ContentLength: h.length,
		Request:       req,
	}}
	hdr := a.resp.Header
	values := make([]string, len(fields)) // each key's first value, as textproto keeps them
	for i, f := range fields {
		key := textproto.CanonicalMIMEHeaderKey(f.name) // f.name itself when already canonical
		if vv, ok := hdr[key]; ok {
			hdr[key] = append(vv, f.value)
			continue
		}
		values[i] = f.value
		hdr[key] = values[i : i+1 : i+1] // so that appending its next value cannot overwrite another key's
	}
	fixPragma(hdr)
	a.resp.Close = takeClose(hdr)
	a.resp.Body = http.NoBody
	if h.length > 0 {
		a.body = answerBody{br: br, left: h.length}
		a.resp.Body = &a.body
	}
	return &a.resp
}

// fixPragma adds "Cache-Control: no-cache" for "Pragma: no-cache" when there is
// no Cache-Control, as http.ReadResponse does (RFC 7234, 5.4).
func fixPragma(hdr http.Header) {
	if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := hdr["Cache-Control"]; !ok {
			hdr["Cache-Control"] = []string{"no-cache"}
		}
	}
}

// takeClose reports whether hdr's Connection fields have the "close" option (in
// any ASCII case, in a comma list), and then removes them, as net/http does for
// an HTTP/1.1 answer, with the same function.
func takeClose(hdr http.Header) bool {
	if httpguts.HeaderValuesContainsToken(hdr["Connection"], "close") {
		delete(hdr, "Connection")
		return true
	}
	return false
}

// answerBody is a body of known length read from the connection's reader. Like
// net/http's, it gives io.EOF with its last bytes (h1Body gives the connection
// back on it), and io.ErrUnexpectedEOF when the connection ends before them.
type answerBody struct {
	br   *bufio.Reader
	left int64 // bytes of the body not read yet
}

func (b *answerBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	switch {
	case err == io.EOF && b.left > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && b.left == 0:
		err = io.EOF
	}
	return n, err
}

func (*answerBody) Close() error { return nil }
