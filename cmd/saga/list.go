package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/sagaflow/saga/client"
	"github.com/spf13/cobra"
)

type listItem struct {
	SagaID     string `json:"saga_id"`
	BookingRef string `json:"booking_ref"`
	Definition string `json:"definition"`
	Status     string `json:"status"`
	Actor      string `json:"actor"`
	StartedAt  string `json:"started_at"`
}

var statuses = map[string]bool{"running": true, "compensating": true, "completed": true, "compensated": true, "failed": true}

func newList(g *globals) *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List sagas, optionally by status",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" && !statuses[status] {
				return usagef("--status must be running, compensating, completed, compensated or failed, got %q", status)
			}
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			items, stale, err := listSagas(cmd.Context(), g, c, status)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(items)
			}
			defer fmt.Printf("(%s)\n", stale)
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SAGA ID\tBOOKING REF\tDEFINITION\tSTATUS\tACTOR\tSTARTED")
			for _, it := range items {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", it.SagaID, it.BookingRef, it.Definition, it.Status, it.Actor, it.StartedAt)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only sagas with this status")
	return cmd
}

// listSagas answers from the read model of the data directory when there
// is one, saying how stale it is, and from the saga log otherwise.
func listSagas(ctx context.Context, g *globals, c *client.Client, status string) ([]listItem, staleness, error) {
	items := []listItem{}
	db, ok, err := openReadModel(ctx, g)
	if err != nil {
		return nil, staleness{}, err
	}
	if ok {
		defer db.Close()
		stale, err := staleOf(ctx, c.Config(), db, "sagas")
		if err != nil {
			return nil, stale, err
		}
		rows, err := db.Sagas(ctx, status)
		for _, r := range rows {
			items = append(items, listItem{SagaID: r.SagaID, BookingRef: r.BookingRef, Definition: r.Definition,
				Status: r.Status, Actor: r.Actor, StartedAt: r.StartedAt.Format(timeLayout)})
		}
		return items, stale, err
	}
	sagas, err := c.Sagas(ctx)
	for _, v := range sagas.List(status) {
		items = append(items, listItem{SagaID: v.SagaID, BookingRef: v.BookingRef, Definition: v.Definition,
			Status: v.Status, Actor: v.Actor, StartedAt: v.StartedAt.Format(timeLayout)})
	}
	return items, staleness{Source: "logs"}, err
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"
