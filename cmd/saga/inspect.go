package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
)

type inspectOut struct {
	projections.SagaView
	Show *projections.ShowInventory `json:"show,omitempty"`
}

func newInspect(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect SAGA_ID_OR_BOOKING_REF",
		Short: "Show a saga: status, every step with attempts and timings, the event timeline, the show's seats",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			v, err := c.Inspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := inspectOut{SagaView: v}
			var d events.BookingData
			if json.Unmarshal(v.Data, &d) == nil && d.ShowID != "" {
				inv, err := c.Inventory(cmd.Context())
				if err != nil {
					return err
				}
				if s, ok := inv.Show(d.ShowID); ok {
					out.Show = &s
				}
			}
			if g.json() {
				return printJSON(out)
			}
			printInspect(out)
			return nil
		},
	}
}

func printInspect(v inspectOut) {
	fmt.Printf("saga_id:     %s\nbooking_ref: %s\ndefinition:  %s\nstatus:      %s\nactor:       %s\n",
		v.SagaID, v.BookingRef, v.Definition, v.Status, v.Actor)
	if v.Reason != "" {
		fmt.Printf("reason:      %s\n", v.Reason)
	}
	fmt.Println("\nSTEPS")
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  STEP\tSTATUS\tATTEMPTS\tSTARTED\tTOOK\tREASON")
	for _, s := range v.Steps {
		attempts := fmt.Sprint(s.Attempts)
		if s.CompensationTries > 0 {
			attempts += fmt.Sprintf(" (+%d undo)", s.CompensationTries)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Status, attempts, clock(s.StartedAt), span(s.StartedAt, s.EndedAt), s.Reason)
	}
	_ = w.Flush()
	fmt.Println("\nTIMELINE")
	for _, e := range v.Events {
		fmt.Printf("  %3d  %s  %-20s %s\n", e.Seq, clock(e.At), e.Type, e.Step)
	}
	if v.Show != nil {
		fmt.Printf("\nSHOW %s: %d of %d seats available (%d held, %d confirmed)\n",
			v.Show.ShowID, v.Show.Available, v.Show.Capacity, v.Show.Held, v.Show.Confirmed)
	}
}
