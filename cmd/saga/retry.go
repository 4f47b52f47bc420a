package main

import (
	"time"

	"github.com/spf13/cobra"
)

func newRetry(g *globals) *cobra.Command {
	var wait time.Duration
	var actor, reason string
	cmd := &cobra.Command{
		Use:               "retry SAGA_ID_OR_BOOKING_REF",
		Short:             "Resume a failed saga after its cause is fixed: its compensation runs again",
		Example:           `  saga retry BK-AWM2MDIU --reason "refunds work again" --wait 30s`,
		Args:              exactArgs(1),
		ValidArgsFunction: completeSagas(g, "failed"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			rec, err := c.Retry(cmd.Context(), args[0], operatorActor(actor), reason)
			if err != nil {
				return err
			}
			return printReceipt(cmd.Context(), g, c, rec, wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the saga to end again")
	addOperatorFlag(cmd, &actor)
	cmd.Flags().StringVar(&reason, "reason", "", "what was fixed, recorded in the saga log")
	return cmd
}
