package config

import (
	"os"
	"reflect"
)

// HTTPAddr returns the public listener's address the way Load resolves it —
// ASAP_HTTP_ADDR from the environment, else from the env file of ASAP_ENV, else the
// default of Config.HTTPAddr — without reading or validating anything else. The
// healthcheck subcommand runs beside the server with the server's environment and
// must answer even where the full configuration would not load (a missing secret
// is the server's problem to report, not the health probe's).
func HTTPAddr() string {
	if addr, ok := os.LookupEnv("ASAP_HTTP_ADDR"); ok && addr != "" {
		return addr
	}
	env := os.Getenv("ASAP_ENV")
	if env == "" {
		env = "local"
	}
	if vars, err := EnvFile(env); err == nil && vars["ASAP_HTTP_ADDR"] != "" {
		return vars["ASAP_HTTP_ADDR"]
	}
	field, _ := reflect.TypeOf(Config{}).FieldByName("HTTPAddr")
	return field.Tag.Get("default")
}
