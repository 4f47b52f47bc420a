package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/api"
)

// DefaultTokenTTL is how long an issued token is valid.
const DefaultTokenTTL = 24 * time.Hour

func newToken(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Tokens of the HTTP API's embedded identity provider",
		Example: `  saga token issue --sub alice --role customer
  curl -H "Authorization: Bearer $(saga token issue --sub ops --role backoffice)" http://127.0.0.1:8080/v1/sagas`}
	cmd.AddCommand(newTokenIssue(g))
	return cmd
}

func newTokenIssue(g *globals) *cobra.Command {
	var sub, role string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "issue --sub ID --role customer|backoffice [--ttl D]",
		Short: "Print a bearer token signed with the data directory's key (one line)",
		Example: `  saga token issue --sub alice --role customer
  saga token issue --sub ops --role backoffice --ttl 1h`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := api.ParseRole(role)
			if err != nil {
				return usageError{err}
			}
			if sub == "" {
				return usagef("--sub is required")
			}
			if ttl <= 0 {
				return usagef("--ttl must be positive, got %s", ttl)
			}
			is, err := api.LoadIssuer(g.dataDir)
			if err != nil {
				return err
			}
			tok, err := is.Issue(sub, r, ttl)
			if err != nil {
				return err
			}
			_, err = fmt.Println(tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&sub, "sub", "", "the token's subject: a user id for a customer, a name for back office")
	f.StringVar(&role, "role", "", "customer or backoffice")
	f.DurationVar(&ttl, "ttl", DefaultTokenTTL, "how long the token is valid")
	for _, name := range []string{"sub", "role"} {
		_ = cmd.MarkFlagRequired(name)
	}
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{"customer", "backoffice"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
