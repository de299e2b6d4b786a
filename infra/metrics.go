package main

import (
	"encoding/json"
	"fmt"
)

// The metrics sidecar: the CloudWatch agent scrapes ASAP's admin port over the task's
// bridge network (a container link names it asap) and writes the selected series as
// EMF log events into the metrics log group, from which CloudWatch extracts them into
// the ASAP namespace. The admin port has no port mapping, so nothing outside the task
// reaches it, the load balancer least of all.
const (
	metricsContainerName = "metrics"
	// metricsMemory (MiB) is the agent's hard limit.
	metricsMemory = 128
	// scrapeInterval is how often the agent reads /metrics.
	scrapeInterval = "30s"
	// metricsFlushSeconds bounds how long the agent holds events before shipping.
	metricsFlushSeconds = 15
	// metricsRestartPeriod (seconds) is the least the agent must have run before ECS
	// restarts it after an exit (ECS's minimum).
	metricsRestartPeriod = 60
)

// metricsAgentContainer is the CloudWatch agent sidecar of a task.
func metricsAgentContainer(c Config, logGroup, metricsLogGroup string) (containerDefinition, error) {
	scrape := prometheusScrapeConfig(c.Stack)
	agent, err := cloudWatchAgentConfig(c, metricsLogGroup)
	if err != nil {
		return containerDefinition{}, err
	}
	return containerDefinition{
		Name:  metricsContainerName,
		Image: c.MetricsAgentImage,
		// Losing metrics must not stop the ad path: the agent is not essential, so
		// ECS would leave it dead for the task's life; the restart policy brings it
		// back in place, and the metrics-heartbeat alarm fires while none arrive.
		Essential:     false,
		RestartPolicy: &restartPolicy{Enabled: true, RestartAttemptPeriod: metricsRestartPeriod},
		Memory:        metricsMemory,
		Links:         []string{containerName + ":" + containerName},
		Environment: []keyValuePair{
			{Name: "CW_CONFIG_CONTENT", Value: agent},
			{Name: "PROMETHEUS_CONFIG_CONTENT", Value: scrape},
			// IMDS is one hop away from the host only; the agent is told its region.
			{Name: "AWS_REGION", Value: c.Region},
		},
		LogConfiguration: awsLogs(c, logGroup, metricsContainerName),
	}, nil
}

// prometheusScrapeConfig is the agent's Prometheus scrape configuration (YAML, of
// which JSON is a subset): ASAP's /metrics, every series labelled with the stack.
func prometheusScrapeConfig(stack string) string {
	b, _ := json.Marshal(map[string]any{ // maps of strings always marshal
		"global": map[string]any{"scrape_interval": scrapeInterval, "scrape_timeout": "10s"},
		"scrape_configs": []any{map[string]any{
			"job_name":     "asap",
			"metrics_path": "/metrics",
			"static_configs": []any{map[string]any{
				"targets": []string{fmt.Sprintf("%s:%d", containerName, adminPort)},
				"labels":  map[string]string{"Stack": stack},
			}},
		}},
	})
	return string(b)
}

// emfDeclaration selects metrics of the asap job and the dimensions they keep.
type emfDeclaration struct {
	SourceLabels    []string   `json:"source_labels"`
	LabelMatcher    string     `json:"label_matcher"`
	Dimensions      [][]string `json:"dimensions"`
	MetricSelectors []string   `json:"metric_selectors"`
}

// emfDeclarations are the series that become CloudWatch metrics, with the
// dimensions the alarms and the dashboard ask for.
func emfDeclarations() []emfDeclaration {
	selectors := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, "^"+n+"$")
		}
		return out
	}
	decl := func(dims []string, names ...string) emfDeclaration {
		return emfDeclaration{
			SourceLabels: []string{"job"}, LabelMatcher: "^asap$",
			Dimensions: [][]string{dims}, MetricSelectors: selectors(names...),
		}
	}
	return []emfDeclaration{
		decl([]string{"Stack"}, metricShed, metricInFlight, metricQueued, metricFills, metricNoFills),
		decl([]string{"Stack", "result"}, metricCacheLookups),
		decl([]string{"Stack", "upstream"}, metricUpstreamTimeouts, metricUpstreamErrors),
	}
}

// cloudWatchAgentConfig is the agent's own configuration (CW_CONFIG_CONTENT).
func cloudWatchAgentConfig(c Config, metricsLogGroup string) (string, error) {
	cfg := map[string]any{
		"agent": map[string]any{"region": c.Region},
		"logs": map[string]any{
			"force_flush_interval": metricsFlushSeconds,
			"metrics_collected": map[string]any{
				"prometheus": map[string]any{
					"log_group_name":         metricsLogGroup,
					"prometheus_config_path": "env:PROMETHEUS_CONFIG_CONTENT",
					"emf_processor": map[string]any{
						"metric_namespace":   metricsNamespace,
						"metric_declaration": emfDeclarations(),
					},
				},
			},
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("marshal CloudWatch agent config: %w", err)
	}
	return string(b), nil
}
