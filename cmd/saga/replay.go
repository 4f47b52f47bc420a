package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/client"
)

func newReplay(g *globals) *cobra.Command {
	var f client.ReplayFilter
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Print the events of the logs in order (JSON lines with -o json)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			entries, err := c.Replay(cmd.Context(), f)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			for _, e := range entries {
				if g.json() {
					if err := enc.Encode(e); err != nil {
						return err
					}
					continue
				}
				fmt.Printf("%s  %-20s %-20s %-11s %s  %s\n", e.OccurredAt.Local().Format("2006-01-02 15:04:05.000"),
					e.Topic, e.Type, e.CorrelationID, e.Actor, e.Payload)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.SagaID, "saga", "", "only the events of this saga")
	cmd.Flags().StringSliceVar(&f.Topics, "topic", nil, "only these logs (default: saga.events and every service's events)")
	return cmd
}
