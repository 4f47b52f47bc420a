package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// envOperator names the operator the CLI acts as when --as is not given.
const envOperator = "SAGA_OPERATOR"

// operatorPrefix marks the actor of a record written by the CLI: an
// operator is a back-office identity, never a customer, so `--as alice`
// records operator:alice and cannot pass for the customer alice.
const operatorPrefix = "operator:"

// addOperatorFlag registers --as on a command that writes requests.
func addOperatorFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVar(name, "as", "", "name of the operator recorded as the actor operator:NAME (default $"+envOperator+", else $USER)")
}

// operatorActor is the actor header of the CLI's requests.
func operatorActor(name string) string {
	name = strings.TrimPrefix(strings.TrimSpace(name), operatorPrefix)
	for _, v := range []string{name, os.Getenv(envOperator), os.Getenv("USER")} {
		if v = strings.TrimSpace(v); v != "" {
			return operatorPrefix + v
		}
	}
	return operatorPrefix + "unknown"
}
