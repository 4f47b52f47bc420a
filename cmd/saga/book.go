package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/readmodel"
)

// connect opens a client on the configured brokers; it fails within
// seconds when none answers.
func connect(ctx context.Context, g *globals) (*client.Client, error) {
	cfg, err := g.busConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()), client.WithLog(g.logger()))
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w; start the system with `saga up --data-dir %s`, or point --brokers at a running Kafka", err, g.dataDir)
	}
	// Sagas already started are looked up in the data directory's read
	// model, when there is one, rather than in the logs.
	if db, ok, err := openReadModel(ctx, g); err == nil && ok {
		c.UseReadModel(db)
	}
	return c, nil
}

func newBook(g *globals) *cobra.Command {
	var r client.BookRequest
	var wait time.Duration
	var operator string
	var extra []string
	cmd := &cobra.Command{
		Use:   "book",
		Short: "Book seats: post a book-ticket saga and print its id and booking reference",
		Example: `  saga book --user alice --show show-1 --seats 2 --payment-token tok_ok --wait 15s
  saga book --user alice --show show-1 --seats 2 --payment-token tok_ok --idempotency-key order-1001 -o json
  saga book --definition book-ticket-with-hotel --data nights=2 --user alice --show show-1 --seats 1 --payment-token tok_ok
  # exit status: 0 completed, 3 compensated, 4 failed, 5 still running after --wait, 2 bad input`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := r.Validate(demo.Catalog()); err != nil {
				return usageError{err}
			}
			var err error
			if r.Extra, err = parseExtra(extra); err != nil {
				return err
			}
			if wait < 0 {
				return usagef("--wait must not be negative")
			}
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			r.Actor = operatorActor(operator)
			ctx, end, err := traceBook(cmd.Context(), g.logger())
			if err != nil {
				return err
			}
			defer end()
			rec, err := c.Book(ctx, r)
			if errors.Is(err, client.ErrInvalid) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			return printReceipt(cmd.Context(), g, c, rec, wait)
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.UserID, "user", "", "id of the user who books (alice, bob, mallory)")
	f.StringVar(&r.ShowID, "show", "", "id of the show (show-1, show-small)")
	f.IntVar(&r.Seats, "seats", 0, "number of seats, 1 to 10")
	f.StringVar(&r.PaymentToken, "payment-token", "", "payment token (tok_ok, tok_declined)")
	f.StringVar(&r.IdempotencyKey, "idempotency-key", "", "key that makes a retried request start nothing new (default: a fresh one)")
	f.DurationVar(&wait, "wait", 0, "wait up to this long for the saga to end and print its final status")
	f.StringVar(&r.Definition, "definition", "book-ticket", "the saga definition that books (saga definitions list names them)")
	f.StringArrayVar(&extra, "data", nil, "KEY=VALUE: one more field of the saga data, for the steps of another definition; VALUE is JSON, else a string (repeatable)")
	for _, name := range []string{"user", "show", "seats", "payment-token"} {
		_ = cmd.MarkFlagRequired(name)
	}
	addOperatorFlag(cmd, &operator)
	return cmd
}

func newCancel(g *globals) *cobra.Command {
	var wait time.Duration
	var actor string
	cmd := &cobra.Command{
		Use:   "cancel BOOKING_REF",
		Short: "Cancel a completed booking: refund, release the seats, notify",
		Example: `  saga cancel BK-AWM2MDIU --wait 15s
  saga cancel BK-AWM2MDIU -o json`,
		Args:              exactArgs(1),
		ValidArgsFunction: completeSagas(g, "completed"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			rec, err := c.Cancel(cmd.Context(), args[0], operatorActor(actor))
			if err != nil {
				return err
			}
			return printReceipt(cmd.Context(), g, c, rec, wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the cancellation to end")
	addOperatorFlag(cmd, &actor)
	return cmd
}

type receiptOut struct {
	SagaID     string `json:"saga_id"`
	BookingRef string `json:"booking_ref"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
}

func printReceipt(ctx context.Context, g *globals, c *client.Client, rec client.Receipt, wait time.Duration) error {
	out := receiptOut{SagaID: rec.SagaID, BookingRef: rec.BookingRef, Status: "running"}
	if v, ok := c.Current(ctx, rec.SagaID, rec.Seen); ok && wait == 0 {
		// A repeated request: its saga's state as it stands.
		out.Status, out.Reason = v.Status, v.Reason
	}
	var waitErr error
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		v, err := c.WaitAfter(wctx, rec.SagaID, rec.Seen)
		if err == nil {
			// Read your own writes: a list or inspect right after sees it.
			err = waitReadModel(wctx, g, rec.SagaID, len(v.Events))
		}
		cancel()
		if err := rec.Conflict(v); err != nil {
			return err
		}
		if v.Status != "" {
			out.Status, out.Reason = v.Status, v.Reason
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			waitErr = outcomeError{exitRunning, fmt.Sprintf("saga %s still %s after %s", rec.SagaID, out.Status, wait)}
		case err != nil:
			waitErr = ctxErr(ctx, err)
		case out.Status == "compensated":
			waitErr = outcomeError{exitCompensated, fmt.Sprintf("saga %s ended compensated: %s", rec.SagaID, out.Reason)}
		case out.Status == "failed":
			waitErr = outcomeError{exitFailed, fmt.Sprintf("saga %s ended failed, an operator must act: %s", rec.SagaID, out.Reason)}
		}
	}
	if g.json() {
		if err := printJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Printf("saga_id:     %s\nbooking_ref: %s\nstatus:      %s\n", out.SagaID, out.BookingRef, out.Status)
		if out.Reason != "" {
			fmt.Printf("reason:      %s\n", out.Reason)
		}
	}
	return waitErr
}

// waitReadModel waits until the read model of the data directory, if there
// is one, holds the saga's first events events.
func waitReadModel(ctx context.Context, g *globals, sagaID string, events int) error {
	db, ok, err := openReadModel(ctx, g)
	if err != nil || !ok {
		return err
	}
	defer db.Close()
	for {
		v, err := db.Saga(ctx, sagaID)
		if err == nil && len(v.Events) >= events {
			return nil
		}
		if err != nil && !errors.Is(err, readmodel.ErrNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// parseExtra reads --data KEY=VALUE flags: VALUE is JSON when it parses
// as JSON, else a string.
func parseExtra(flags []string) (map[string]json.RawMessage, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[string]json.RawMessage{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--data %q: want KEY=VALUE", f)
		}
		raw := json.RawMessage(v)
		if !json.Valid(raw) {
			raw, _ = json.Marshal(v)
		}
		out[strings.TrimSpace(k)] = raw
	}
	return out, nil
}
