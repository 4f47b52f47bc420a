package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/client"
)

func newDLQ(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use: "dlq",
		Example: `  saga dlq list
  saga dlq redrive 7f0c1c3e-5b0e-4c8e-9f0e-2a1d3c4b5a69`,
		Short: "Dead letters: messages that could never be processed, and sending them back once fixed",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDLQList(g), newDLQRedrive(g))
	return cmd
}

func newDLQList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list",
		Example: `  saga dlq list
  saga dlq list -o json | jq -r '.[].reason'`,
		Short: "List the dead letters, oldest first: id, type, where each was read, why it failed",
		Long: "List every record of the dead-letter topic, oldest first. Kafka cannot delete a record, so a\n" +
			"letter stays listed after a redrive; a redriven message that fails again is listed once more,\n" +
			"as a new letter with the same id (REDRIVEN FROM names the letter it was sent back from).\n" +
			"Payment tokens in payloads are shown as [redacted]. The data directory's read model answers\n" +
			"when it has applied the whole topic; otherwise the topic is read.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			letters, err := c.DeadLetters(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(letters)
			}
			printLetters(letters)
			return nil
		},
	}
}

func printLetters(letters []client.DeadLetter) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTYPE\tFROM\tDEAD AT\tREDRIVEN FROM\tREASON")
	for _, d := range letters {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dlqDash(d.Type), dlqPlace(d.Topic, d.Partition, d.Offset),
			d.DeadAt.Local().Format("2006-01-02 15:04:05.000"), dlqDash(d.RedrivenFrom), dlqOneLine(d.Reason))
	}
	_ = w.Flush()
}

// dlqPlace names a place in a log: topic/partition@offset.
func dlqPlace(topic string, partition int32, offset int64) string {
	if topic == "" {
		topic = "?"
	}
	p, o := "?", "?"
	if partition >= 0 {
		p = fmt.Sprint(partition)
	}
	if offset >= 0 {
		o = fmt.Sprint(offset)
	}
	return topic + "/" + p + "@" + o
}

func dlqDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dlqOneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func newDLQRedrive(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "redrive ID",
		Example: `  saga dlq redrive 7f0c1c3e-5b0e-4c8e-9f0e-2a1d3c4b5a69`,
		Short:   "Send a dead letter back to the topic it came from, once what made it fail is fixed",
		Long: "Send the message of a dead letter back to the topic it was read from, with its key, payload and\n" +
			"headers (less the dead-letter ones, plus redriven_from_dlq_partition and redriven_from_dlq_offset).\n" +
			"When several letters have the id, the latest is sent. The letter stays on the dead-letter topic; if\n" +
			"the message fails again it comes back as a new letter.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			r, err := c.Redrive(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(r)
			}
			fmt.Printf("redriven %s from saga.dlq/%d@%d to %s\n", r.ID, r.FromDLQPartition, r.FromDLQOffset, dlqPlace(r.Topic, r.Partition, r.Offset))
			return nil
		},
	}
}
