package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// alarmPeriod is the period (seconds) every alarm evaluates.
const alarmPeriod = 60

// metricsNamespace is the CloudWatch namespace of ASAP's own metrics, which the
// metrics sidecar ships as EMF log events, each with the Stack dimension.
const metricsNamespace = "ASAP"

// ASAP's Prometheus metrics that reach CloudWatch (service/internal/*/metrics.go and
// upstream.go name them).
const (
	metricShed             = "asap_http_shed_total"
	metricCacheLookups     = "asap_placement_cache_lookups_total"
	metricUpstreamTimeouts = "asap_upstream_timeouts_total"
	metricUpstreamErrors   = "asap_upstream_errors_total"
	metricFills            = "asap_ad_fills_total"
	metricNoFills          = "asap_ad_no_fills_total"
	metricInFlight         = "asap_http_in_flight"
	metricQueued           = "asap_http_queued"
)

// alarm is one CloudWatch alarm of the stack.
type alarm struct {
	name        string
	description string
	namespace   string
	metric      string
	statistic   string // Sum, Average, Maximum, or a percentile such as p99
	dimensions  pulumi.StringMap
	threshold   float64
	periods     int // evaluation periods
	breaching   int // of which this many must breach
	// below alarms when the statistic falls under the threshold (a heartbeat) instead
	// of rising above it; such an alarm also treats missing data as breaching.
	below bool
}

// heartbeatMetric is the series the heartbeat alarm counts: the in-flight gauge, which
// the metrics sidecar ships from every task on every scrape, traffic or not (counters
// send nothing until they move). Its SampleCount is the number of scrapes that reached
// CloudWatch.
const heartbeatMetric = metricInFlight

// heartbeatMinutes is how long ASAP's metrics may be missing before the heartbeat
// alarm fires: a sidecar restart and a deployment's gap stay below it.
const heartbeatMinutes = 5

// newAlarmTopic creates the topic every alarm notifies, with an email subscription
// when configured.
func newAlarmTopic(ctx *pulumi.Context, c Config) (*sns.Topic, error) {
	topic, err := sns.NewTopic(ctx, "alarms", &sns.TopicArgs{
		Name: pulumi.String(resourceName(c, "alarms")),
		Tags: tags(c, "alarms"),
	}, fixedName)
	if err != nil {
		return nil, err
	}
	if c.Alarms.Email != "" {
		if _, err := sns.NewTopicSubscription(ctx, "alarms-email", &sns.TopicSubscriptionArgs{
			Topic:    topic.Arn,
			Protocol: pulumi.String("email"),
			Endpoint: pulumi.String(c.Alarms.Email),
		}); err != nil {
			return nil, err
		}
	}
	return topic, nil
}

// newDeploymentAlarms creates the alarms that roll a deployment back (the service's
// Alarms): 5xx answers from the tasks or the load balancer, and p99 latency. They
// watch the load balancer only, so they exist before the service that names them.
func newDeploymentAlarms(ctx *pulumi.Context, c Config, topic *sns.Topic, balancer *LoadBalancer) ([]*cloudwatch.MetricAlarm, error) {
	lbDims := pulumi.StringMap{"LoadBalancer": balancer.LoadBalancer.ArnSuffix}
	tgDims := pulumi.StringMap{"LoadBalancer": balancer.LoadBalancer.ArnSuffix, "TargetGroup": balancer.TargetGroup.ArnSuffix}
	a := c.Alarms
	var out []*cloudwatch.MetricAlarm
	for _, al := range []alarm{
		{"target-5xx", fmt.Sprintf("ASAP answered more than %d 5xx per minute", a.Target5xxPerMinute),
			"AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", tgDims, float64(a.Target5xxPerMinute), 5, 3, false},
		{"lb-5xx", fmt.Sprintf("the load balancer answered more than %d 5xx per minute itself (no healthy task?)", a.Target5xxPerMinute),
			"AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", lbDims, float64(a.Target5xxPerMinute), 5, 3, false},
		{"latency-p99", fmt.Sprintf("p99 target response time above %d ms", a.LatencyP99Ms),
			"AWS/ApplicationELB", "TargetResponseTime", "p99", tgDims, float64(a.LatencyP99Ms) / 1000, 5, 3, false},
	} {
		ma, err := newAlarm(ctx, c, topic, al)
		if err != nil {
			return nil, err
		}
		out = append(out, ma)
	}
	return out, nil
}

// newServiceAlarms creates the alarms on unhealthy targets, CPU and memory, and on
// ASAP's own signals (shed requests, stale placements, upstream timeouts and errors
// per upstream), and the dashboard.
func newServiceAlarms(ctx *pulumi.Context, c Config, topic *sns.Topic, cl *Cluster, svc *Service, balancer *LoadBalancer) error {
	tgDims := pulumi.StringMap{"LoadBalancer": balancer.LoadBalancer.ArnSuffix, "TargetGroup": balancer.TargetGroup.ArnSuffix}
	svcDims := pulumi.StringMap{"ClusterName": cl.Cluster.Name, "ServiceName": svc.Service.Name}
	stack := func(kv ...string) pulumi.StringMap {
		m := pulumi.StringMap{"Stack": pulumi.String(c.Stack)}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = pulumi.String(kv[i+1])
		}
		return m
	}
	a := c.Alarms
	alarms := []alarm{
		{"unhealthy-hosts", "a task fails the load balancer's /readyz check",
			"AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", tgDims, 0, 3, 3, false},
		{"cpu", fmt.Sprintf("service CPU above %d%%", a.CpuPercent),
			"AWS/ECS", "CPUUtilization", "Average", svcDims, float64(a.CpuPercent), 5, 5, false},
		{"memory", fmt.Sprintf("service memory above %d%% (a healthy task stays below %d%%)", a.MemoryPercent, healthyMemoryPercent(c)),
			"AWS/ECS", "MemoryUtilization", "Average", svcDims, float64(a.MemoryPercent), 5, 5, false},
		{"shed", fmt.Sprintf("ASAP refused more than %d requests per minute with 503 (in-flight and queue full)", a.ShedPerMinute),
			metricsNamespace, metricShed, "Sum", stack(), float64(a.ShedPerMinute), 5, 3, false},
		{"stale-placements", fmt.Sprintf("more than %d placements per minute served stale (Redis failing)", a.StalePerMinute),
			metricsNamespace, metricCacheLookups, "Sum", stack("result", "stale"), float64(a.StalePerMinute), 5, 3, false},
		// Every alarm on ASAP's own metrics treats missing data as "nothing wrong":
		// this one says when there is no data at all (the sidecar is dead, its config
		// broken, or it cannot write its log group).
		{"metrics-heartbeat", fmt.Sprintf("no ASAP metrics reached CloudWatch for %d minutes (metrics sidecar down?): the alarms on ASAP's own signals are blind", heartbeatMinutes),
			metricsNamespace, heartbeatMetric, "SampleCount", stack(), 1, heartbeatMinutes, heartbeatMinutes, true},
	}
	for _, up := range c.upstreams() {
		alarms = append(alarms,
			alarm{"upstream-" + up.Name + "-timeouts", fmt.Sprintf("upstream %s missed tmax more than %d times per minute", up.Name, a.UpstreamTimeoutsPerMinute),
				metricsNamespace, metricUpstreamTimeouts, "Sum", stack("upstream", up.Name), float64(a.UpstreamTimeoutsPerMinute), 5, 3, false},
			alarm{"upstream-" + up.Name + "-errors", fmt.Sprintf("more than %d bid requests per minute to upstream %s got no answer", a.UpstreamErrorsPerMinute, up.Name),
				metricsNamespace, metricUpstreamErrors, "Sum", stack("upstream", up.Name), float64(a.UpstreamErrorsPerMinute), 5, 3, false},
		)
	}
	for _, al := range alarms {
		if _, err := newAlarm(ctx, c, topic, al); err != nil {
			return err
		}
	}

	body := pulumi.StringArray{balancer.LoadBalancer.ArnSuffix, balancer.TargetGroup.ArnSuffix, cl.Cluster.Name, svc.Service.Name}.
		ToStringArrayOutput().
		ApplyT(func(v []string) (string, error) { return dashboardBody(c, v[0], v[1], v[2], v[3]) }).(pulumi.StringOutput)
	_, err := cloudwatch.NewDashboard(ctx, "asap", &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(resourceName(c, "")),
		DashboardBody: body,
	}, fixedName)
	return err
}

// newAlarm creates one alarm notifying the topic when it fires and when it clears.
func newAlarm(ctx *pulumi.Context, c Config, topic *sns.Topic, al alarm) (*cloudwatch.MetricAlarm, error) {
	actions := pulumi.Array{topic.Arn}
	args := &cloudwatch.MetricAlarmArgs{
		Name:               pulumi.String(resourceName(c, al.name)),
		AlarmDescription:   pulumi.String(al.description),
		Namespace:          pulumi.String(al.namespace),
		MetricName:         pulumi.String(al.metric),
		Dimensions:         al.dimensions,
		Period:             pulumi.Int(alarmPeriod),
		EvaluationPeriods:  pulumi.Int(al.periods),
		DatapointsToAlarm:  pulumi.Int(al.breaching),
		Threshold:          pulumi.Float64(al.threshold),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		// No data is no traffic (or no such failure): not a reason to page.
		TreatMissingData: pulumi.String("notBreaching"),
		AlarmActions:     actions,
		OkActions:        actions,
		Tags:             tags(c, al.name),
	}
	if al.below {
		// A heartbeat: no data is the failure it watches for.
		args.ComparisonOperator = pulumi.String("LessThanThreshold")
		args.TreatMissingData = pulumi.String("breaching")
	}
	if al.statistic[0] == 'p' {
		args.ExtendedStatistic = pulumi.String(al.statistic)
	} else {
		args.Statistic = pulumi.String(al.statistic)
	}
	return cloudwatch.NewMetricAlarm(ctx, al.name, args, fixedName)
}

// dashboard is a CloudWatch dashboard body.
type dashboard struct {
	Widgets []widget `json:"widgets"`
}

type widget struct {
	Type       string           `json:"type"`
	X          int              `json:"x"`
	Y          int              `json:"y"`
	Width      int              `json:"width"`
	Height     int              `json:"height"`
	Properties widgetProperties `json:"properties"`
}

type widgetProperties struct {
	Title  string `json:"title"`
	Region string `json:"region"`
	View   string `json:"view"`
	Stat   string `json:"stat"`
	Period int    `json:"period"`
	// Metrics are CloudWatch's metric arrays: namespace, name, dimension pairs and
	// optionally a final options object ({"id", "visible"}), or a lone {"expression"}.
	Metrics [][]any `json:"metrics"`
}

// dashboardBody shows traffic, errors, latency, target health and utilisation, and
// ASAP's own signals: shed requests, cache hit ratio and stale placements, upstream
// timeouts and errors by upstream, fills.
func dashboardBody(c Config, lbSuffix, tgSuffix, cluster, service string) (string, error) {
	lb := func(metric string) []any {
		return []any{"AWS/ApplicationELB", metric, "LoadBalancer", lbSuffix}
	}
	tg := func(metric string) []any {
		return []any{"AWS/ApplicationELB", metric, "TargetGroup", tgSuffix, "LoadBalancer", lbSuffix}
	}
	ecs := func(metric string) []any {
		return []any{"AWS/ECS", metric, "ClusterName", cluster, "ServiceName", service}
	}
	asap := func(metric string, kv ...any) []any {
		return append([]any{metricsNamespace, metric, "Stack", c.Stack}, kv...)
	}
	hidden := func(id string) map[string]any { return map[string]any{"id": id, "visible": false} }
	var upstreams [][]any
	for _, up := range c.upstreams() {
		upstreams = append(upstreams,
			asap(metricUpstreamTimeouts, "upstream", up.Name),
			asap(metricUpstreamErrors, "upstream", up.Name))
	}
	panels := []struct {
		title   string
		stat    string
		metrics [][]any
	}{
		{"Requests", "Sum", [][]any{lb("RequestCount")}},
		{"5xx", "Sum", [][]any{tg("HTTPCode_Target_5XX_Count"), lb("HTTPCode_ELB_5XX_Count")}},
		{"Target response time p99 (s)", "p99", [][]any{tg("TargetResponseTime")}},
		{"Target health", "Maximum", [][]any{tg("HealthyHostCount"), tg("UnHealthyHostCount")}},
		{"CPU and memory (%)", "Average", [][]any{ecs("CPUUtilization"), ecs("MemoryUtilization")}},
		{"Running tasks", "Average", [][]any{{"ECS/ContainerInsights", "RunningTaskCount", "ClusterName", cluster, "ServiceName", service}}},
		{"Shed (503) and load", "Sum", [][]any{asap(metricShed), asap(metricInFlight, map[string]any{"stat": "Maximum"}), asap(metricQueued, map[string]any{"stat": "Maximum"})}},
		{"Placement cache hit ratio (%)", "Sum", [][]any{
			asap(metricCacheLookups, "result", "hit", hidden("hit")),
			asap(metricCacheLookups, "result", "miss", hidden("miss")),
			asap(metricCacheLookups, "result", "stale", hidden("stale")),
			{map[string]any{"expression": "100 * hit / (hit + miss + stale)", "label": "hit ratio", "id": "ratio"}},
		}},
		{"Stale placements served", "Sum", [][]any{asap(metricCacheLookups, "result", "stale")}},
		{"Upstream timeouts and errors", "Sum", upstreams},
		{"Ads: fills and no-fills", "Sum", [][]any{asap(metricFills), asap(metricNoFills)}},
	}
	var d dashboard
	for i, p := range panels {
		d.Widgets = append(d.Widgets, widget{
			Type: "metric", X: (i % 2) * 12, Y: (i / 2) * 6, Width: 12, Height: 6,
			Properties: widgetProperties{Title: p.title, Region: c.Region, View: "timeSeries", Stat: p.stat, Period: alarmPeriod, Metrics: p.metrics},
		})
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("marshal dashboard: %w", err)
	}
	return string(b), nil
}
