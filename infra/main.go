// Command infra is the Pulumi program of ASAP's staging and production stacks
// (`pulumi up --stack staging` from the repository root). Everything that differs
// between the stacks is configuration in Pulumi.<stack>.yaml.
package main

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

func main() {
	pulumi.Run(program)
}
