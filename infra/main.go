// Command infra is the Pulumi program of ASAP's staging and production stacks.
package main

func main() {}
