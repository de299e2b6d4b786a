package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Outputs are the stack outputs of the Pulumi program, as
// `pulumi stack output --stack ENV --json` prints them.
type Outputs struct {
	URL               string `json:"url"`
	ALBDNSName        string `json:"albDnsName"`
	ClusterName       string `json:"clusterName"`
	ServiceName       string `json:"serviceName"`
	RepositoryURL     string `json:"repositoryUrl"`
	LogGroupName      string `json:"logGroupName"`
	TargetGroupARN    string `json:"targetGroupArn"`
	TaskDefinitionARN string `json:"taskDefinitionArn"`
	Region            string `json:"region"`
	// Image is the image the task definition runs, by digest
	// (<registry>/<repository>@sha256:...): what production promotes.
	Image string `json:"image"`
	// SmokePkey is the placement the smoke requests ask for.
	SmokePkey string `json:"smokePkey"`
	// DeploymentAlarms are the CloudWatch alarms that roll the service's deployments back.
	DeploymentAlarms []string `json:"deploymentAlarms"`
}

// ReadOutputs decodes the JSON object of `pulumi stack output --json`. Outputs it
// does not know are ignored.
func ReadOutputs(r io.Reader) (Outputs, error) {
	var o Outputs
	if err := json.NewDecoder(r).Decode(&o); err != nil {
		if errors.Is(err, io.EOF) {
			return Outputs{}, errors.New("stack outputs: empty input: want the JSON of `pulumi stack output --json`")
		}
		return Outputs{}, fmt.Errorf("stack outputs: want the JSON object of `pulumi stack output --json`: %w", err)
	}
	return o, nil
}
