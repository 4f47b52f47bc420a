package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completeSagas completes a saga id or booking reference from the data
// directory's read model, those of sagas with one of the given statuses
// (any when none): completion must answer at once and without a broker.
func completeSagas(g *globals, only ...string) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		db, ok, err := openReadModel(cmd.Context(), g)
		if err != nil || !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		rows, err := db.Sagas(ctx, "")
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		seen := map[string]bool{}
		for _, r := range rows {
			if len(only) > 0 && !contains(only, r.Status) {
				continue
			}
			for _, c := range []string{r.BookingRef, r.SagaID} {
				if !seen[c] && strings.HasPrefix(c, toComplete) {
					seen[c] = true
					out = append(out, cobra.CompletionWithDesc(c, r.Definition+" "+r.Status))
				}
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// registerGlobalCompletions completes the values of the shared flags.
func registerGlobalCompletions(root *cobra.Command) {
	fixed := func(values ...string) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	_ = root.RegisterFlagCompletionFunc("output", fixed("text", "json"))
	_ = root.RegisterFlagCompletionFunc("log-format", fixed("console", "json"))
	_ = root.RegisterFlagCompletionFunc("log-level", fixed("debug", "info", "warn", "error"))
	_ = root.RegisterFlagCompletionFunc("sasl-mechanism", fixed("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"))
}
