package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/orchestrator/dryrun"
)

func newDefinitionsDryRun(g *globals) *cobra.Command {
	var file string
	var since time.Duration
	var limit int
	cmd := &cobra.Command{
		Use: "dry-run -f FILE",
		Example: `  saga definitions dry-run -f book-ticket.yaml
  saga definitions dry-run -f book-ticket.yaml --since 24h --limit 500 -o json`,
		Short: "Replay past sagas of a definition through a new version of it, writing nothing, and say where it would decide otherwise",
		Long: "Read the recorded inputs of past sagas of the file's definition (their start requests, the\n" +
			"participants' replies, the moments time acted) and feed them, in order and at their recorded\n" +
			"times, to the state machine running the file's version. For each saga: whether every decision\n" +
			"comes out as recorded, else the first that does not, with what was recorded and what would be.\n" +
			"Nothing is written. Exit status 1 when any saga would have been decided otherwise.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since < 0 || limit < 0 {
				return usagef("--since and --limit must not be negative")
			}
			_, def, err := readSpecFile(g, file)
			if err != nil {
				return err
			}
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			var from time.Time
			if since > 0 {
				from = time.Now().Add(-since)
			}
			reports, err := c.DryRun(cmd.Context(), def, from, limit)
			if err != nil {
				return err
			}
			diverged := 0
			for _, r := range reports {
				if r.Diverged != nil {
					diverged++
				}
			}
			if g.json() {
				err = printJSON(struct {
					Definition string          `json:"definition"`
					Version    string          `json:"version"`
					Sagas      int             `json:"sagas"`
					Diverged   int             `json:"diverged"`
					Reports    []dryrun.Report `json:"reports"`
				}{def.Name, def.Version, len(reports), diverged, reports})
			} else {
				printDryRun(def.Name, def.Version, reports, diverged)
			}
			if err == nil && diverged > 0 {
				// The report is on stdout; exit status 1 with this line.
				return fmt.Errorf("%d of %d sagas would have been decided otherwise by %s version %s", diverged, len(reports), def.Name, def.Version)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the new version's definition file, YAML or JSON (- for stdin)")
	f.DurationVar(&since, "since", 0, "only sagas started this long ago or later (default: all)")
	f.IntVar(&limit, "limit", 0, "only the last N sagas started (default: all)")
	return cmd
}

func printDryRun(name, version string, reports []dryrun.Report, diverged int) {
	fmt.Printf("%s version %s replayed over %d recorded sagas: %d decide as recorded, %d otherwise\n",
		name, version, len(reports), len(reports)-diverged, diverged)
	if len(reports) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nSAGA\tBOOKING\tRECORDED\tDECISIONS\tREPLAYED")
	for _, r := range reports {
		res := "as recorded"
		if d := r.Diverged; d != nil {
			res = fmt.Sprintf("otherwise at decision %d (%s)", d.Decision, d.Input)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", r.SagaID, r.BookingRef, r.Status, r.Decisions, res)
	}
	_ = w.Flush()
	for _, r := range reports {
		d := r.Diverged
		if d == nil {
			continue
		}
		fmt.Printf("\n%s (%s), decision %d at %s, on %s:\n  recorded: %s\n  replayed: %s\n", r.SagaID, r.BookingRef, d.Decision,
			d.At.Local().Format("2006-01-02 15:04:05.000"), d.Input, strings.Join(d.Recorded, ", "), strings.Join(orNothing(d.Replayed), ", "))
		if d.Error != "" {
			fmt.Printf("  because:  %s\n", d.Error)
		}
	}
}

func orNothing(s []string) []string {
	if len(s) == 0 {
		return []string{"(nothing)"}
	}
	return s
}
