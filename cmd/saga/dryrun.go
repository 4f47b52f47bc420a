package main

import "github.com/spf13/cobra"

func newDefinitionsDryRun(g *globals) *cobra.Command {
	_ = g
	return &cobra.Command{Use: "dry-run -f FILE", Short: "(not yet)", Hidden: true, Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return usagef("dry-run is not built yet") }}
}
