package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/conformance"
	"github.com/sagaflow/saga/events"
)

func newParticipant(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "participant",
		Example: `  saga participant check --service payment`,
		Short:   "Check that a running participant service keeps the protocol (docs/protocol.md)",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newParticipantCheck(g))
	return cmd
}

func newParticipantCheck(g *globals) *cobra.Command {
	var (
		service     string
		timeout     time.Duration
		concurrency int
	)
	cmd := &cobra.Command{
		Use: "check --service NAME",
		Example: `  saga participant check --service booking
  saga participant check --service hotel --services examples/hotel/services.yaml --keys /etc/saga/keys -o json`,
		Short: "Drive a running participant through a scripted conversation and report pass or fail per rule",
		Long: `check talks to a running participant over Kafka as the orchestrator would, signing
with the orchestrator's key: each command and each compensation, the same command twice, a
compensation before its command, an unknown command type, a malformed payload and many sagas at
once. Built-in services get the demo world's data; a declared service its sample data. It exits
1 when a rule fails. A running orchestrator refuses the kit's replies (it never started those
sagas): they become dead letters.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if service == "" {
				return usagef("--service is required (one of %s, or a service of --services)", strings.Join(events.Services(), ", "))
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive, got %s", timeout)
			}
			if concurrency < 1 || concurrency > 1000 {
				return usagef("--concurrency must be between 1 and 1000, got %d", concurrency)
			}
			script, err := conformance.ScriptFor(service)
			if err != nil {
				return usageError{err}
			}
			cfg, err := g.busConfig()
			if err != nil {
				return err
			}
			if g.signatures {
				keys, _, err := g.signing()
				if err != nil {
					return err
				}
				if cfg.Signer = keys[events.PrincipalOrchestrator]; cfg.Signer == nil {
					return fmt.Errorf("the kit signs as the orchestrator: the key directory %s has no %s.key", g.keyDir(), events.PrincipalOrchestrator)
				}
			}
			rep, err := conformance.Check(cmd.Context(), conformance.Config{Bus: cfg, Script: script, Timeout: timeout, Concurrency: concurrency})
			if err != nil {
				// Stopped halfway, a check has passed nothing: it says so.
				return fmt.Errorf("check of %s stopped after %d rules: %w", service, len(rep.Results), err)
			}
			if g.json() {
				err = printJSON(rep)
			} else {
				err = rep.WriteText(os.Stdout)
			}
			if err != nil {
				return err
			}
			if failed := rep.Failed(); len(failed) > 0 {
				names := make([]string, len(failed))
				for i, f := range failed {
					names[i] = f.Rule
				}
				return outcomeError{exitError, fmt.Sprintf("%s fails %d of %d rules: %s", service, len(failed), len(rep.Results), strings.Join(names, "; "))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&service, "service", "", "the service to check: a built-in or one declared in --services")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for each reply or dead letter")
	f.IntVar(&concurrency, "concurrency", 8, "how many sagas the concurrency rule runs at once")
	// The built-ins: a declared service's name is in the file the
	// completion cannot know is meant.
	_ = cmd.RegisterFlagCompletionFunc("service", cobra.FixedCompletions(events.BuiltinServices(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
