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
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

type inspectOut struct {
	projections.SagaView
	// Booking is the book-ticket saga of the reference, when the saga
	// shown is its cancellation: a cancelled booking shows both.
	Booking   *projections.SagaView      `json:"booking,omitempty"`
	Show      *projections.ShowInventory `json:"show,omitempty"`
	Staleness staleness                  `json:"staleness"`
}

func newInspect(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect SAGA_ID_OR_BOOKING_REF",
		Short: "Show a saga: status, every step with attempts and timings, the event timeline, the show's seats",
		Example: `  saga inspect BK-AWM2MDIU
  saga inspect 0599a60d-1494-5901-ae2d-f0a6497e1e2a -o json | jq .status`,
		Args:              exactArgs(1),
		ValidArgsFunction: completeSagas(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, offline, err := connectOrReadModel(cmd.Context(), g)
			if err != nil {
				return err
			}
			if c != nil {
				defer c.Close()
			}
			out, err := inspect(cmd.Context(), g, c, offline, args[0])
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
	version := v.DefinitionVersion
	if version == "" {
		version = "- (logged before versions were recorded)"
	}
	fmt.Printf("saga_id:            %s\nbooking_ref:        %s\ndefinition:         %s\ndefinition_version: %s\nstatus:             %s\nactor:              %s\n",
		v.SagaID, v.BookingRef, v.Definition, version, v.Status, v.Actor)
	if v.Reason != "" {
		fmt.Printf("reason:             %s\n", v.Reason)
	}
	if v.Stuck != nil {
		fmt.Printf("stuck:              %s (reported %s; saga list --stuck lists what needs an operator)\n", stuckText(v.Stuck), clock(v.Stuck.At))
	}
	fmt.Println("\nSTEPS")
	printSteps(v.SagaView)
	if b := v.Booking; b != nil {
		fmt.Printf("\nTHE BOOKING IT CANCELS: saga %s, %s %s\n", b.SagaID, b.Definition, b.Status)
		printSteps(*b)
	}
	fmt.Println("\nTIMELINE")
	for _, e := range v.Events {
		fmt.Printf("  %3d  %s  %-20s %s\n", e.Seq, clock(e.At), e.Type, e.Step)
	}
	fmt.Fprintf(os.Stderr, "(%s)\n", v.Staleness)
	if v.Show != nil {
		fmt.Printf("\nSHOW %s: %d of %d seats available; %d taken by bookings, %d of them confirmed\n",
			v.Show.ShowID, v.Show.Available, v.Show.Capacity, v.Show.Held, v.Show.Confirmed)
	}
}

// inspect answers from the read model of the data directory when there is
// one, saying how stale it is, and from the logs otherwise.
func inspect(ctx context.Context, g *globals, c *client.Client, offline error, idOrRef string) (inspectOut, error) {
	db, ok, err := openReadModel(ctx, g)
	if err != nil {
		return inspectOut{}, err
	}
	if ok {
		defer db.Close()
		stale, err := staleFor(ctx, c, offline, db, "sagas", "inventory")
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
		if v.Definition == flows.CancelBooking {
			if b, err := db.Booking(ctx, v.BookingRef); err == nil && b.SagaID != "" {
				if bv, err := db.Saga(ctx, b.SagaID); err == nil {
					out.Booking = &bv
				}
			}
		}
		if show := showOf(v); show != "" {
			if s, err := db.Show(ctx, show); err == nil {
				out.Show = &s
			}
		}
		return out, nil
	}
	if c == nil {
		return inspectOut{}, offline
	}
	v, err := c.Inspect(ctx, idOrRef)
	if err != nil {
		return inspectOut{}, err
	}
	out := inspectOut{SagaView: v, Staleness: staleness{Source: "logs"}}
	if v.Definition == flows.CancelBooking {
		if sagas, err := c.Sagas(ctx); err == nil {
			for _, bv := range sagas.ByRef(v.BookingRef) {
				if bv.Definition == flows.BookTicket {
					out.Booking = &bv
				}
			}
		}
	}
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

func printSteps(v projections.SagaView) {
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
}
