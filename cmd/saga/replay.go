package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
)

// replayFlags are the raw values of the flags that need parsing.
type replayFlags struct {
	since, until string
	fromOffsets  []string
	types        []string
}

func newReplay(g *globals) *cobra.Command {
	var (
		f   client.ReplayFilter
		raw replayFlags
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Print the events of the logs in order (JSON lines with -o json)",
		Long: "Print the records of the logs, old schema versions upcast to the current ones: by default the saga\n" +
			"log and every service's log, sorted by the time they occurred. The filters combine: a record is\n" +
			"printed when it matches all of them. With --follow the records print as they arrive (in log order\n" +
			"within each partition) until Ctrl-C.\n\n" +
			"Times (--since, --until) are RFC 3339 (2025-03-14T09:00:00Z) or a duration meaning that long ago\n" +
			"(1h, -1h, 90m). --from-offset takes PARTITION=OFFSET for every topic read or TOPIC:PARTITION=OFFSET\n" +
			"for one, comma separated (0=120,1=98 or saga.events:0=120,1=98); other partitions start at their\n" +
			"oldest record.",
		Example: "  saga replay --booking-ref BK-XS2YUV5N\n" +
			"  saga replay -o json --type StepFailed | jq -c .type\n" +
			"  saga replay --since 1h --topic saga.events --follow\n" +
			"  saga replay --topic payment.events --from-offset 0=120,1=98",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := errors.Join(raw.apply(&f, time.Now()), f.Validate()); err != nil {
				return usageError{err}
			}
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			n := 0
			print := entryPrinter(os.Stdout, g.json())
			// A replay reads and sorts the logs before it prints the
			// first record: the spinner shows until then.
			var bar *progress
			if !f.Follow {
				bar = g.newProgress(-1, "reading the logs")
			}
			defer bar.done()
			err = c.ReplayEach(cmd.Context(), f, func(e client.LogEntry) error {
				if n == 0 {
					bar.done()
				}
				n++
				return print(e)
			})
			if errors.Is(err, client.ErrInvalid) {
				return usageError{err}
			}
			// A saga or booking the logs do not hold is an error, not an
			// empty answer; other filters may well match nothing.
			if err == nil && n == 0 && !f.Follow && (f.SagaID != "" || f.BookingRef != "") {
				return fmt.Errorf("%w: the logs hold no records of %s", client.ErrNotFound, first(f.SagaID, f.BookingRef))
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.SagaID, "saga", "", "only the records of this saga (id)")
	fl.StringVar(&f.BookingRef, "booking-ref", "", "only the records of this booking reference (the correlation id): the booking, its cancellation and every service's records of them")
	fl.StringSliceVar(&raw.types, "type", nil, "only these message types, comma separated or repeated (e.g. StepFailed,SagaCompensated)")
	fl.StringVar(&raw.since, "since", "", "only records that occurred at or after this time: RFC 3339, or a duration meaning that long ago (1h)")
	fl.StringVar(&raw.until, "until", "", "only records that occurred before this time: RFC 3339, or a duration meaning that long ago (10m)")
	fl.StringSliceVar(&f.Topics, "topic", nil, "only these topics, comma separated or repeated (default: saga.events and every service's events)")
	fl.StringArrayVar(&raw.fromOffsets, "from-offset", nil, "start partitions at an offset: PARTITION=OFFSET for every topic read, or TOPIC:PARTITION=OFFSET; comma separated, repeatable")
	fl.BoolVarP(&f.Follow, "follow", "f", false, "keep printing new records as they arrive, until Ctrl-C")
	return cmd
}

// apply parses the flags that are not plain strings into f; every problem
// is reported at once.
func (r replayFlags) apply(f *client.ReplayFilter, now time.Time) error {
	var errs []error
	var err error
	for _, t := range r.types {
		f.Types = append(f.Types, events.Type(t))
	}
	if f.Since, err = parseWhen(r.since, now); err != nil {
		errs = append(errs, fmt.Errorf("--since: %w", err))
	}
	if f.Until, err = parseWhen(r.until, now); err != nil {
		errs = append(errs, fmt.Errorf("--until: %w", err))
	}
	if f.FromOffsets, f.TopicOffsets, err = client.ParseOffsets(r.fromOffsets); err != nil {
		errs = append(errs, fmt.Errorf("--from-offset: %w", err))
	}
	return errors.Join(errs...)
}

// parseWhen reads a point in time: RFC 3339, or a duration meaning that
// long before now ("1h" and "-1h" both mean an hour ago). Empty is zero.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2025-03-14T09:00:00Z) nor a duration (1h, -30m)", s)
	}
	if d < 0 {
		d = -d
	}
	return now.Add(-d), nil
}

// entryPrinter prints one record per line: a JSON object with asJSON (so
// `jq` reads the output line by line), else a line of text.
func entryPrinter(w io.Writer, asJSON bool) func(client.LogEntry) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(e client.LogEntry) error {
		if asJSON {
			return enc.Encode(e)
		}
		var payload bytes.Buffer
		if err := json.Compact(&payload, e.Payload); err != nil {
			payload.Reset()
			payload.Write(bytes.Join(bytes.Fields(e.Payload), []byte(" ")))
		}
		_, err := fmt.Fprintf(w, "%s  %-20s %-20s %-11s %s  %s\n", e.OccurredAt.Local().Format("2006-01-02 15:04:05.000"),
			e.Topic, e.Type, e.CorrelationID, e.Actor, payload.Bytes())
		return err
	}
}
