package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
	"github.com/spf13/cobra"
)

type listItem struct {
	SagaID     string `json:"saga_id"`
	BookingRef string `json:"booking_ref"`
	Definition string `json:"definition"`
	Status     string `json:"status"`
	Actor      string `json:"actor"`
	StartedAt  string `json:"started_at"`
	// Stuck is why the saga needs an operator, with the step whose SLO it
	// ran past ("slo ChargePayment"); empty when it does not.
	Stuck string `json:"stuck,omitempty"`
}

var statuses = map[string]bool{"running": true, "compensating": true, "completed": true, "compensated": true, "failed": true}

func newList(g *globals) *cobra.Command {
	var status, definition string
	var limit, offset int
	var stuck bool
	cmd := &cobra.Command{
		Use:   "list [--status S] [--definition NAME] [--limit N] [--offset M]",
		Short: "List sagas in the order they started, optionally by status and definition, a page at a time",
		Example: `  saga list
  saga list --status compensated
  saga list --stuck                   # what needs an operator: past its SLO, or failed
  saga list --definition cancel-booking
  saga list --limit 20 --offset 20     # the second page of 20
  saga list -o json | jq -r '.[].booking_ref'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" && !statuses[status] {
				return usagef("--status must be running, compensating, completed, compensated or failed, got %q", status)
			}
			if stuck && status != "" {
				return usagef("--stuck and --status cannot be given together: --stuck lists stuck sagas of any status")
			}
			if stuck {
				status = projections.StatusStuck
			}
			if definition != "" && !slices.Contains(definitionNames(), definition) {
				return usagef("--definition must be one of %s, got %q", strings.Join(definitionNames(), ", "), definition)
			}
			if limit < 0 || offset < 0 {
				return usagef("--limit and --offset must not be negative")
			}
			c, offline, err := connectOrReadModel(cmd.Context(), g)
			if err != nil {
				return err
			}
			if c != nil {
				defer c.Close()
			}
			items, stale, err := listSagas(cmd.Context(), g, c, offline, status)
			if err != nil {
				return err
			}
			if definition != "" {
				items = slices.DeleteFunc(items, func(it listItem) bool { return it.Definition != definition })
			}
			total := len(items)
			items = items[min(offset, total):]
			if limit > 0 && len(items) > limit {
				items = items[:limit]
				defer fmt.Fprintf(os.Stderr, "(sagas %d to %d of %d; the next page: --offset %d)\n", offset+1, offset+limit, total, offset+limit)
			}
			if g.json() {
				return printJSON(items)
			}
			defer fmt.Fprintf(os.Stderr, "(%s)\n", stale)
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			if stuck {
				fmt.Fprintln(w, "SAGA ID\tBOOKING REF\tDEFINITION\tSTATUS\tSTUCK\tACTOR\tSTARTED")
				for _, it := range items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.SagaID, it.BookingRef, it.Definition, it.Status, it.Stuck, it.Actor, it.StartedAt)
				}
				return w.Flush()
			}
			fmt.Fprintln(w, "SAGA ID\tBOOKING REF\tDEFINITION\tSTATUS\tACTOR\tSTARTED")
			for _, it := range items {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", it.SagaID, it.BookingRef, it.Definition, it.Status, it.Actor, it.StartedAt)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only sagas with this status: running, compensating, completed, compensated or failed")
	cmd.Flags().BoolVar(&stuck, "stuck", false, "only sagas that need an operator: reported by the watchdog past their SLO, or failed")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many sagas (0: all of them)")
	cmd.Flags().IntVar(&offset, "offset", 0, "skip this many sagas first: the next page starts at the previous offset plus the limit")
	cmd.Flags().StringVar(&definition, "definition", "", "only sagas of this definition: "+strings.Join(definitionNames(), ", "))
	_ = cmd.RegisterFlagCompletionFunc("definition", cobra.FixedCompletions(definitionNames(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(sortedKeys(statuses), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// listSagas answers from the read model of the data directory when there
// is one, saying how stale it is, and from the saga log otherwise. Without
// a client (offline says why) only the read model answers.
func listSagas(ctx context.Context, g *globals, c *client.Client, offline error, status string) ([]listItem, staleness, error) {
	items := []listItem{}
	db, ok, err := openReadModel(ctx, g)
	if err != nil {
		return nil, staleness{}, err
	}
	if ok {
		defer db.Close()
		stale, err := staleFor(ctx, c, offline, db, "sagas")
		if err != nil {
			return nil, stale, err
		}
		rows, err := db.Sagas(ctx, status)
		for _, r := range rows {
			items = append(items, listItem{SagaID: r.SagaID, BookingRef: r.BookingRef, Definition: r.Definition,
				Status: r.Status, Actor: r.Actor, StartedAt: r.StartedAt.Format(timeLayout), Stuck: stuckText(&projections.StuckView{Reason: r.Stuck, Step: r.StuckStep})})
		}
		return items, stale, err
	}
	if c == nil {
		return nil, staleness{}, offline
	}
	sagas, err := c.Sagas(ctx)
	for _, v := range sagas.List(status) {
		items = append(items, listItem{SagaID: v.SagaID, BookingRef: v.BookingRef, Definition: v.Definition,
			Status: v.Status, Actor: v.Actor, StartedAt: v.StartedAt.Format(timeLayout), Stuck: stuckText(v.Stuck)})
	}
	return items, staleness{Source: "logs"}, err
}

// stuckText is a StuckView as the list shows it: the reason, and the step
// whose SLO the saga ran past.
func stuckText(v *projections.StuckView) string {
	if v == nil || v.Reason == "" {
		return ""
	}
	return strings.TrimSpace(v.Reason + " " + v.Step)
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// definitionNames are the names of the definitions the product runs.
func definitionNames() []string {
	out := make([]string, 0, len(flows.All()))
	for name := range flows.All() {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
