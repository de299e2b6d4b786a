package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"asap/service/internal/adquery"
	"asap/service/internal/bufpool"
)

// maxUserAgent bounds the User-Agent header carried into the bid request; past it
// the header is cut, not refused: SDKs do not choose their platform's UA.
const maxUserAgent = 512

// ad serves GET /v2/ad: it parses the query (400 naming the parameter), asks the
// ad service for the ad and writes its answer — 200 with the SDK JSON, or 204. An
// unknown placement is 404 and an unreachable store 503, as for GET /v2. The client
// IP is Echo's RealIP, which the server's IP extractor takes from X-Forwarded-For
// only through the trusted proxies.
func (s *Server) ad(c echo.Context) error {
	req := c.Request()
	q, err := adquery.Parse(req.URL.RawQuery)
	if err != nil {
		return err // a *query.Error: 400 naming the parameter
	}
	ua := req.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	r := adquery.Request{Query: q, UserAgent: ua, IP: c.RealIP()}

	buf := bufpool.Get()
	defer bufpool.Put(buf)
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
