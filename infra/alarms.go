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
}

// newAlarms creates the alarm topic (with an email subscription when configured), the
// alarms on 5xx answers, p99 latency, unhealthy targets, CPU and memory, and a dashboard.
func newAlarms(ctx *pulumi.Context, c Config, cl *Cluster, svc *Service, balancer *LoadBalancer) (*sns.Topic, error) {
	topic, err := sns.NewTopic(ctx, "alarms", &sns.TopicArgs{
		Name: pulumi.String(resourceName(c, "alarms")),
		Tags: tags(c, "alarms"),
	})
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

	lbDims := pulumi.StringMap{"LoadBalancer": balancer.LoadBalancer.ArnSuffix}
	tgDims := pulumi.StringMap{"LoadBalancer": balancer.LoadBalancer.ArnSuffix, "TargetGroup": balancer.TargetGroup.ArnSuffix}
	svcDims := pulumi.StringMap{"ClusterName": cl.Cluster.Name, "ServiceName": svc.Service.Name}
	a := c.Alarms
	alarms := []alarm{
		{"target-5xx", fmt.Sprintf("ASAP answered more than %d 5xx per minute", a.Target5xxPerMinute),
			"AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", tgDims, float64(a.Target5xxPerMinute), 5, 3},
		{"lb-5xx", fmt.Sprintf("the load balancer answered more than %d 5xx per minute itself (no healthy task?)", a.Target5xxPerMinute),
			"AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", lbDims, float64(a.Target5xxPerMinute), 5, 3},
		{"latency-p99", fmt.Sprintf("p99 target response time above %d ms", a.LatencyP99Ms),
			"AWS/ApplicationELB", "TargetResponseTime", "p99", tgDims, float64(a.LatencyP99Ms) / 1000, 5, 3},
		{"unhealthy-hosts", "a task fails the load balancer's /readyz check",
			"AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", tgDims, 0, 3, 3},
		{"cpu", fmt.Sprintf("service CPU above %d%%", a.CpuPercent),
			"AWS/ECS", "CPUUtilization", "Average", svcDims, float64(a.CpuPercent), 5, 5},
		{"memory", fmt.Sprintf("service memory above %d%%", a.MemoryPercent),
			"AWS/ECS", "MemoryUtilization", "Average", svcDims, float64(a.MemoryPercent), 5, 5},
	}
	actions := pulumi.Array{topic.Arn}
	for _, al := range alarms {
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
			TreatMissingData:   pulumi.String("notBreaching"),
			AlarmActions:       actions,
			OkActions:          actions,
			Tags:               tags(c, al.name),
		}
		if al.statistic[0] == 'p' {
			args.ExtendedStatistic = pulumi.String(al.statistic)
		} else {
			args.Statistic = pulumi.String(al.statistic)
		}
		if _, err := cloudwatch.NewMetricAlarm(ctx, al.name, args); err != nil {
			return nil, err
		}
	}

	body := pulumi.StringArray{balancer.LoadBalancer.ArnSuffix, balancer.TargetGroup.ArnSuffix, cl.Cluster.Name, svc.Service.Name}.
		ToStringArrayOutput().
		ApplyT(func(v []string) (string, error) { return dashboardBody(c.Region, v[0], v[1], v[2], v[3]) }).(pulumi.StringOutput)
	if _, err := cloudwatch.NewDashboard(ctx, "asap", &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(resourceName(c, "")),
		DashboardBody: body,
	}); err != nil {
		return nil, err
	}
	return topic, nil
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
	Title   string     `json:"title"`
	Region  string     `json:"region"`
	View    string     `json:"view"`
	Stat    string     `json:"stat"`
	Period  int        `json:"period"`
	Metrics [][]string `json:"metrics"`
}

// dashboardBody shows traffic, errors, latency, target health and utilisation.
func dashboardBody(region, lbSuffix, tgSuffix, cluster, service string) (string, error) {
	lb := func(metric string) []string {
		return []string{"AWS/ApplicationELB", metric, "LoadBalancer", lbSuffix}
	}
	tg := func(metric string) []string {
		return []string{"AWS/ApplicationELB", metric, "TargetGroup", tgSuffix, "LoadBalancer", lbSuffix}
	}
	ecs := func(metric string) []string {
		return []string{"AWS/ECS", metric, "ClusterName", cluster, "ServiceName", service}
	}
	panels := []struct {
		title   string
		stat    string
		metrics [][]string
	}{
		{"Requests", "Sum", [][]string{lb("RequestCount")}},
		{"5xx", "Sum", [][]string{tg("HTTPCode_Target_5XX_Count"), lb("HTTPCode_ELB_5XX_Count")}},
		{"Target response time p99 (s)", "p99", [][]string{tg("TargetResponseTime")}},
		{"Target health", "Maximum", [][]string{tg("HealthyHostCount"), tg("UnHealthyHostCount")}},
		{"CPU and memory (%)", "Average", [][]string{ecs("CPUUtilization"), ecs("MemoryUtilization")}},
		{"Running tasks", "Average", [][]string{{"ECS/ContainerInsights", "RunningTaskCount", "ClusterName", cluster, "ServiceName", service}}},
	}
	var d dashboard
	for i, p := range panels {
		d.Widgets = append(d.Widgets, widget{
			Type: "metric", X: (i % 2) * 12, Y: (i / 2) * 6, Width: 12, Height: 6,
			Properties: widgetProperties{Title: p.title, Region: region, View: "timeSeries", Stat: p.stat, Period: alarmPeriod, Metrics: p.metrics},
		})
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("marshal dashboard: %w", err)
	}
	return string(b), nil
}
