package system_test

import "os"

// bustestEnv reports the external cluster the suite runs against, if any.
func bustestEnv() (string, bool) {
	v := os.Getenv("KAFKA_BROKERS")
	return v, v != ""
}
