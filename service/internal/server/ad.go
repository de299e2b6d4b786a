package server

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"asap/service/internal/ad"
)

// maxUserAgent bounds the User-Agent header carried into the bid request; past it
// the header is cut, not refused: SDKs do not choose their platform's UA.
const maxUserAgent = 512

var adBufs = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 2048)) }}

// ad serves GET /v2/ad: it parses the query (400 naming the parameter), asks the
// ad service for the ad and writes its answer — 200 with the SDK JSON, or 204. An
// unknown placement is 404 and an unreachable store 503, as for GET /v2. The client
// IP is Echo's RealIP, which the server's IP extractor takes from X-Forwarded-For
// only through the trusted proxies.
func (s *Server) ad(c echo.Context) error {
	req := c.Request()
	q, err := ad.ParseQuery(req.URL.RawQuery)
	if err != nil {
		return err // a *query.Error: 400 naming the parameter
	}
	ua := req.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	r := ad.Request{Query: q, UserAgent: ua, IP: c.RealIP()}

	buf := adBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 {
			adBufs.Put(buf)
		}
	}()
	status, err := s.adService.Serve(req.Context(), &r, buf)
	if err != nil {
		return lookupError(s.log, q.PKey, err)
	}
	res := c.Response()
	h := res.Header()
	h["Cache-Control"] = cacheControlNoStore
	if status != http.StatusOK {
		res.WriteHeader(status)
		return nil
	}
	h["Content-Type"] = contentTypeJSON
	res.WriteHeader(http.StatusOK)
	res.Write(buf.Bytes()) // an error here means the client left
	return nil
}
