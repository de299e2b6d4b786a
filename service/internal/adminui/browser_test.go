package adminui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"asap/service/internal/app/apptest"
	"asap/service/internal/logtest"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/testwait"
)

var update = flag.Bool("update", false, "write the screenshot of the page, docs/adops.png")

// chromium returns the path of a Chromium to drive. Without one the test is
// skipped, except in CI (CI=true), where .ci/run installs it and its absence is
// a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on the PATH: CI needs it for the browser test (apt-get install chromium)")
	}
	t.Skip("no chromium on the PATH (apt-get install chromium): the browser test of the ad-ops page is skipped")
	return ""
}

// server is ASAP started through app.Run (apptest.Start).
type server struct {
	public, admin string
	logs          *logtest.Buffer
}

// startServer runs ASAP in the local environment on free ports, reading
// placements from the shared test Redis under a prefix of its own, with one
// admin token, and waits until /readyz answers 200.
func startServer(t *testing.T, token string) *server {
	t.Helper()
	_, prefix := redistest.Client(t) // deletes the prefix's keys at the end
	in := apptest.Start(t, map[string]string{
		"ASAP_REDIS_URL": redistest.URL(), "ASAP_REDIS_KEY_PREFIX": prefix, "ASAP_ADMIN_TOKENS": "ops:" + token,
	})
	return &server{public: in.URL, admin: in.Admin, logs: in.Logs}
}

// put writes p through the admin API and returns the version it became.
func (s *server) put(t *testing.T, token string, p placement.Placement) int64 {
	t.Helper()
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, s.admin+"/admin/placements/"+p.PKey, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct{ Version int64 }
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 || json.Unmarshal(b, &v) != nil {
		t.Fatalf("PUT %s: %d %s", p.PKey, res.StatusCode, b)
	}
	return v.Version
}

// articlesBetweenAds is what GET /v2 answers for demo-feed now.
func (s *server) articlesBetweenAds(t *testing.T) int {
	t.Helper()
	res, err := http.Get(s.public + "/v2?pkey=demo-feed")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct{ ArticlesBetweenAds int }
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatalf("GET /v2: %d: %v", res.StatusCode, err)
	}
	return v.ArticlesBetweenAds
}

// TestRollbackInABrowser drives the page in a headless Chromium against the
// whole server: an operator signs in with a token, opens demo-feed, sees the
// difference between its last two versions, rolls back, and /v2 answers the
// old value again. With -update it writes docs/adops.png.
func TestRollbackInABrowser(t *testing.T) {
	exe := chromium(t)
	const token = "browser-test-token-7f3a"
	s := startServer(t, token)

	for _, p := range samples.Placements() {
		s.put(t, token, p)
	}
	feed := samples.Placement("demo-feed")
	was := feed.ArticlesBetweenAds
	before := s.put(t, token, feed) // unchanged: the same version
	feed.ArticlesBetweenAds = was * 3
	feed.KeyValue = "ck-wrong-campaign"
	bad := s.put(t, token, feed)
	if bad != before+1 {
		t.Fatalf("the change became version %d; want %d", bad, before+1)
	}
	testwait.For(t, "/v2 to answer the change", func() bool { return s.articlesBetweenAds(t) == was*3 })

	ctx, cancel := browser(t, exe)
	defer cancel()
	// Sign in, open demo-feed, read the difference, roll back to the version
	// before the change, and wait for the page to show the version that made.
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.admin+"/admin/ui/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/ui/placements/demo-feed"]`)),
		chromedp.WaitNotVisible(chromedp.ID("login")), // signed in: the form is gone
		chromedp.Click(chromedp.CSS(`a[href="/admin/ui/placements/demo-feed"]`)),
		chromedp.WaitVisible(chromedp.ID("diff")),
	)
	if err != nil {
		t.Fatalf("opening demo-feed in the page: %v\nserver log:\n%s", err, s.logs)
	}
	diff, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("diff")))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-rollback="%d"]`, before))),
		chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//strong[@id="current-version" and text()="%d"]`, bad+1))),
	)
	if err != nil {
		t.Fatalf("rolling back in the page: %v\nserver log:\n%s", err, s.logs)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("flash")))
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"articlesBetweenAds", "keyValue", "ck-wrong-campaign"} {
		if !strings.Contains(diff, want) {
			t.Errorf("the difference of versions %d and %d lacks %q:\n%s", before, bad, want, diff)
		}
	}
	if want := fmt.Sprintf("Rolled back demo-feed to version %d: it is now version %d.", before, bad+1); flash != want {
		t.Errorf("the page says %q; want %q", flash, want)
	}
	testwait.For(t, "/v2 to answer the rolled-back placement", func() bool { return s.articlesBetweenAds(t) == was })
	if cookies != "" {
		t.Errorf("the page set cookies %q; the token lives in sessionStorage only", cookies)
	}
	if strings.Contains(s.logs.String(), token) {
		t.Errorf("the server logged the admin token:\n%s", s.logs)
	}
	if !strings.Contains(s.logs.String(), `"who":"ops"`) && !strings.Contains(s.logs.String(), "who=ops") {
		t.Errorf("no audit line names the token's owner, ops:\n%s", s.logs)
	}

	if *update {
		// The page as an operator sees it after the rollback: the versions, the
		// difference the rollback made, the record.
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join("..", "..", "..", "docs", "adops.png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", out, len(png))
	}
}

// browser starts a headless Chromium with a profile of its own and returns a
// context that drives one tab of it; cancel stops the browser. The context ends
// shortly before the test binary's -timeout, so a step that never happens fails
// the test naming the step instead of hanging it.
func browser(t *testing.T, exe string) (context.Context, context.CancelFunc) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // as root, as in CI containers, Chromium runs only without its sandbox
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 1000),
	}
	parent := context.Background()
	var cancelDeadline context.CancelFunc = func() {}
	if d, ok := t.Deadline(); ok {
		parent, cancelDeadline = context.WithDeadline(parent, d.Add(-5*time.Second))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	return ctx, func() { cancelTab(); cancelAlloc(); cancelDeadline() }
}
