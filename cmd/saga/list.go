package main

import (
	"fmt"
	"os"
	"text/tabwriter"

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
			sagas, err := c.Sagas(cmd.Context())
			if err != nil {
				return err
			}
			items := []listItem{}
			for _, v := range sagas.List(status) {
				items = append(items, listItem{SagaID: v.SagaID, BookingRef: v.BookingRef, Definition: v.Definition,
					Status: v.Status, Actor: v.Actor, StartedAt: v.StartedAt.Format("2006-01-02T15:04:05.000Z07:00")})
			}
			if g.json() {
				return printJSON(items)
			}
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
