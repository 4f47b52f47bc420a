package main

import (
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/projections"
)

// inconsistencies is the error of a reconcile that found something: the
// report is on stdout, and the CLI exits 1 with this one line.
type inconsistencies int

func (n inconsistencies) Error() string {
	if n == 1 {
		return "1 inconsistency found"
	}
	return fmt.Sprintf("%d inconsistencies found", int(n))
}

func newReconcile(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "reconcile",
		Example: `  saga reconcile
  saga reconcile -o json | jq .findings`,
		Short: "Read every service's log and report where they disagree; exit status 1 when anything is found",
		Long: "Read the saga log and the booking, payment and notification logs and report where they disagree:\n" +
			"seats held without a completed booking (seats_without_booking), money charged without one\n" +
			"(charge_without_booking), completed bookings without their charge or seats (booking_without_charge),\n" +
			"a booking charged twice (charged_twice), sagas more than a minute past a deadline\n" +
			"(saga_past_deadline) and failed sagas (saga_failed). Bookings whose sagas are still running are\n" +
			"not judged. Prints the findings and what the logs add up to; exit status 1 when anything is found.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			bar := g.newProgress(-1, "reconciling the logs")
			rep, err := c.Reconcile(cmd.Context(), time.Time{})
			bar.done()
			if err != nil {
				return err
			}
			if g.json() {
				err = printJSON(rep)
			} else {
				printReconciliation(rep)
			}
			if err != nil {
				return err
			}
			if n := len(rep.Findings); n > 0 {
				return inconsistencies(n)
			}
			return nil
		},
	}
}

func printReconciliation(rep client.Reconciliation) {
	if len(rep.Findings) == 0 {
		fmt.Println("no inconsistencies: the logs agree")
	} else {
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KIND\tBOOKING REF\tSAGA ID\tDETAIL")
		for _, f := range rep.Findings {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Kind, dlqDash(f.BookingRef), dlqDash(f.SagaID), f.Detail)
		}
		_ = w.Flush()
	}
	s := rep.Summary
	fmt.Printf("\nSUMMARY (checked at %s, from the %s)\n", rep.CheckedAt.Local().Format("2006-01-02 15:04:05"), rep.Source)
	fmt.Printf("  sagas:          %s\n", reconCounts(s.Sagas))
	fmt.Printf("  seats held:     %s\n", reconCounts(s.SeatsHeld))
	fmt.Printf("  charged:        %s (%s)\n", projections.Cents(s.ChargedCents), reconPlural(s.Charges, "charge"))
	fmt.Printf("  refunded:       %s (%s)\n", projections.Cents(s.RefundedCents), reconPlural(s.Refunds, "refund"))
	fmt.Printf("  net:            %s\n", projections.Cents(s.NetCents))
	fmt.Printf("  notifications:  %d delivered\n", s.NotificationsDelivered)
	if len(rep.Unreadable) > 0 {
		fmt.Printf("  unreadable:     %s (left out)\n", reconCounts(rep.Unreadable))
	}
}

// reconCounts prints a map of counts as "a 1, b 2" in key order; "none" when empty.
func reconCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", k, m[k])
	}
	if out == "" {
		return "none"
	}
	return out
}

func reconPlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
