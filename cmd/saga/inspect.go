package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

type inspectOut struct {
	projections.SagaView
	Show      *projections.ShowInventory `json:"show,omitempty"`
	Staleness staleness                  `json:"staleness"`
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
			out, err := inspect(cmd.Context(), g, c, args[0])
			if err != nil {
				return err
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
	fmt.Printf("\n(%s)\n", v.Staleness)
	if v.Show != nil {
		fmt.Printf("\nSHOW %s: %d of %d seats available (%d held, %d confirmed)\n",
			v.Show.ShowID, v.Show.Available, v.Show.Capacity, v.Show.Held, v.Show.Confirmed)
	}
}

// inspect answers from the read model of the data directory when there is
// one, saying how stale it is, and from the logs otherwise.
func inspect(ctx context.Context, g *globals, c *client.Client, idOrRef string) (inspectOut, error) {
	db, ok, err := openReadModel(ctx, g)
	if err != nil {
		return inspectOut{}, err
	}
	if ok {
		defer db.Close()
		stale, err := staleOf(ctx, c.Config(), db, "sagas", "inventory")
		if err != nil {
			return inspectOut{}, err
		}
		v, err := db.Saga(ctx, idOrRef)
		if errors.Is(err, readmodel.ErrNotFound) {
			return inspectOut{}, fmt.Errorf("%w (%s)", err, stale)
		}
		if err != nil {
			return inspectOut{}, err
		}
		out := inspectOut{SagaView: v, Staleness: stale}
		if show := showOf(v); show != "" {
			if s, err := db.Show(ctx, show); err == nil {
				out.Show = &s
			}
		}
		return out, nil
	}
	v, err := c.Inspect(ctx, idOrRef)
	if err != nil {
		return inspectOut{}, err
	}
	out := inspectOut{SagaView: v, Staleness: staleness{Source: "logs"}}
	if show := showOf(v); show != "" {
		inv, err := c.Inventory(ctx)
		if err != nil {
			return out, err
		}
		if s, ok := inv.Show(show); ok {
			out.Show = &s
		}
	}
	return out, nil
}

func showOf(v projections.SagaView) string {
	var d events.BookingData
	_ = json.Unmarshal(v.Data, &d)
	return d.ShowID
}
