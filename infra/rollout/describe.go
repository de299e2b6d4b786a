package rollout

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// shortTaskDefinition turns arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REV
// into FAMILY:REV; anything else is returned as it is.
func shortTaskDefinition(td string) string {
	if _, after, ok := strings.Cut(td, ":task-definition/"); ok {
		return after
	}
	return td
}

// sameTaskDefinition compares two task definitions given as ARNs or family:revision.
func sameTaskDefinition(a, b string) bool {
	return a != "" && shortTaskDefinition(a) == shortTaskDefinition(b)
}

// newer reports whether deployment a was created after b.
func newer(a, b *ecstypes.Deployment) bool {
	return aws.ToTime(a.CreatedAt).After(aws.ToTime(b.CreatedAt))
}

// scaledIn reports whether the scheduler stopped t to scale in, which is no sign of
// a broken task.
func scaledIn(t ecstypes.Task) bool {
	return strings.HasPrefix(aws.ToString(t.StoppedReason), "Scaling activity initiated by")
}

// describeStopped says why task t stopped, with each container's exit code and reason.
func describeStopped(t ecstypes.Task) string {
	id := aws.ToString(t.TaskArn)
	if i := strings.LastIndex(id, "/"); i >= 0 {
		id = id[i+1:]
	}
	s := fmt.Sprintf("task %s (%s): %s", id, orNone(string(t.StopCode)), orNone(aws.ToString(t.StoppedReason)))
	var ctrs []string
	for _, c := range t.Containers {
		var parts []string
		if c.ExitCode != nil {
			parts = append(parts, fmt.Sprintf("exit %d", *c.ExitCode))
		}
		if r := aws.ToString(c.Reason); r != "" {
			parts = append(parts, r)
		}
		if len(parts) > 0 {
			ctrs = append(ctrs, fmt.Sprintf("container %s: %s", aws.ToString(c.Name), strings.Join(parts, ", ")))
		}
	}
	if len(ctrs) > 0 {
		s += " [" + strings.Join(ctrs, "; ") + "]"
	}
	return s
}

// describeTarget says why a target is not healthy.
func describeTarget(key string, h *elbtypes.TargetHealth) string {
	if h == nil {
		return key + " has no health state"
	}
	s := fmt.Sprintf("%s %s", key, h.State)
	if h.Reason != "" {
		s += " (" + string(h.Reason)
		if d := aws.ToString(h.Description); d != "" {
			s += ": " + d
		}
		s += ")"
	}
	return s
}

// checkMediation checks a GET /v2 answer as the SDKs in the field read it: mrid,
// pkey and status present, status "OK".
func checkMediation(body []byte, pkey string) error {
	var m struct {
		Mrid   string `json:"mrid"`
		Pkey   string `json:"pkey"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("GET /v2?pkey=%s: the body is not the mediation JSON: %w: %s", pkey, err, snippet(body))
	}
	var problems []string
	if m.Mrid == "" {
		problems = append(problems, "no mrid")
	}
	if m.Pkey != pkey {
		problems = append(problems, fmt.Sprintf("pkey %q, want %q", m.Pkey, pkey))
	}
	if m.Status != "OK" {
		problems = append(problems, fmt.Sprintf("status %q, want \"OK\"", m.Status))
	}
	if len(problems) > 0 {
		return fmt.Errorf("GET /v2?pkey=%s: %s: %s", pkey, strings.Join(problems, ", "), snippet(body))
	}
	return nil
}

// checkFill checks a GET /v2/ad answer filled from an upstream: a creative with
// markup, won in an auction (a house ad is served when the upstream fails, so it
// is no fill).
func checkFill(body []byte, pkey string) error {
	var a struct {
		AdserverRequestID string `json:"adserverRequestId"`
		Creatives         []struct {
			AuctionWinID string `json:"auctionWinId"`
			Creative     struct {
				Markup string `json:"markup"`
			} `json:"creative"`
		} `json:"creatives"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("GET /v2/ad?pkey=%s: the body is not the ad answer JSON: %w: %s", pkey, err, snippet(body))
	}
	var problems []string
	switch {
	case len(a.Creatives) == 0:
		problems = append(problems, "no creative")
	case a.Creatives[0].AuctionWinID == houseAuctionWinID:
		problems = append(problems, "the placement's house ad, not an upstream's bid (the upstream failed or timed out)")
	case a.Creatives[0].Creative.Markup == "":
		problems = append(problems, "a creative without markup")
	}
	if len(problems) > 0 {
		return fmt.Errorf("GET /v2/ad?pkey=%s: no fill: %s: %s", pkey, strings.Join(problems, ", "), snippet(body))
	}
	return nil
}

// houseAuctionWinID is the auctionWinId ASAP gives a house ad (service/internal/adanswer,
// a module of its own, so not imported).
const houseAuctionWinID = "house"

// snippet is the start of a response body, on one line, for an error message.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
