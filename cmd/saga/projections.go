package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/readmodel"
)

func (g *globals) readModelPath() string { return filepath.Join(g.dataDir, readmodel.FileName) }

// openReadModel opens the read models kept by `saga up` in the data
// directory; ok is false when there are none (the system runs elsewhere),
// and the caller answers from the logs instead.
func openReadModel(ctx context.Context, g *globals) (*readmodel.DB, bool, error) {
	if _, err := os.Stat(g.readModelPath()); err != nil {
		return nil, false, nil //nolint:nilerr // no read models here: the caller answers from the logs
	}
	db, err := readmodel.Open(ctx, g.readModelPath(), readmodel.WithCatalog(demo.Catalog()))
	return db, err == nil, err
}

// staleness says how far the read models are behind the logs.
type staleness struct {
	LagEvents  int64   `json:"lag_events"`
	LagSeconds float64 `json:"lag_seconds"`
	Source     string  `json:"source"`
	// Offline says why the logs could not be asked; AsOf is then the time
	// of the newest record the read model holds.
	Offline string    `json:"offline,omitempty"`
	AsOf    time.Time `json:"as_of,omitzero"`
}

// staleFor is staleOf, or with no client (the brokers cannot be reached,
// for why) how old the read model's newest record is.
func staleFor(ctx context.Context, c *client.Client, why error, db *readmodel.DB, names ...string) (staleness, error) {
	if c != nil {
		return staleOf(ctx, c.Config(), db, names...)
	}
	at, err := readmodel.LastRecordAt(ctx, db, names...)
	return staleness{Source: "read model", Offline: oneLine(why), AsOf: at}, err
}

func (s staleness) String() string {
	if s.Offline != "" {
		if s.AsOf.IsZero() {
			return fmt.Sprintf("the logs cannot be read (%s): answered from the read model, which holds nothing yet", s.Offline)
		}
		return fmt.Sprintf("the logs cannot be read (%s): answered from the read model, which holds the logs up to %s (%s ago)",
			s.Offline, s.AsOf.Local().Format(time.DateTime), time.Since(s.AsOf).Round(time.Second))
	}
	if s.Source != "read model" {
		return "answered from the logs (no read model in the data directory)"
	}
	if s.LagEvents == 0 {
		return "read model up to date with the logs"
	}
	return fmt.Sprintf("read model %d events (%.1fs) behind the logs", s.LagEvents, s.LagSeconds)
}

func staleOf(ctx context.Context, cfg bus.Config, db *readmodel.DB, names ...string) (staleness, error) {
	st, err := readmodel.Status(ctx, cfg, db)
	if err != nil {
		return staleness{}, err
	}
	out := staleness{Source: "read model"}
	for _, p := range st {
		if len(names) > 0 && !slices.Contains(names, p.Name) {
			continue
		}
		out.LagEvents += p.LagEvents
		out.LagSeconds = max(out.LagSeconds, p.LagSeconds)
	}
	return out, nil
}

func newProjections(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "The read models: how far behind the logs they are, and rebuilding them",
		Example: "  saga projections status\n  saga projections rebuild"}
	cmd.AddCommand(&cobra.Command{
		Use: "status",
		Example: `  saga projections status
  saga projections status -o json`,
		Short: "Per projection: its offsets, the end of the log, and the lag in events and seconds",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, db, err := readModelAndBus(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := readmodel.Status(cmd.Context(), cfg, db)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(st)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROJECTION\tTOPICS\tAPPLIED\tSKIPPED\tLAG EVENTS\tLAG SECONDS\tREBUILD")
			for _, p := range st {
				rebuild := "-"
				if p.Rebuild != nil {
					rebuild = fmt.Sprintf("in progress, %d behind", p.Rebuild.LagEvents)
				}
				fmt.Fprintf(w, "%s\t%v\t%d\t%d\t%d\t%.1f\t%s\n", p.Name, p.Topics, p.Applied, p.Skipped, p.LagEvents, p.LagSeconds, rebuild)
			}
			return w.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "rebuild [NAME...]",
		Example: `  saga projections rebuild
  saga projections rebuild sagas inventory`,
		Short: "Replay the logs from offset zero into fresh tables, then swap them in (every projection when none is named)",
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if !slices.Contains(readmodel.Names(), a) {
					return usagef("unknown projection %q (want one of %v)", a, readmodel.Names())
				}
			}
			cfg, db, err := readModelAndBus(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer db.Close()
			start := time.Now()
			stop := watchRebuild(cmd.Context(), g, cfg, db, args)
			res, err := readmodel.Rebuild(cmd.Context(), cfg, db, args...)
			stop()
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(res)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROJECTION\tRECORDS\tTOOK\tRECORDS/S\tRESUMED\tSWAPPED IN")
			for _, r := range res {
				fmt.Fprintf(w, "%s\t%d\t%s\t%.0f\t%s\t%s\n", r.Projection, r.Records, r.Duration.Round(time.Millisecond),
					r.RecordsPerSecond, yesNo(r.Resumed), yesNo(r.Swapped))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "(rebuilt in %s)\n", time.Since(start).Round(time.Millisecond))
			return nil
		},
	})
	return cmd
}

// readModelAndBus opens the read models of the data directory (creating
// them if needed) and the connection to the logs.
func readModelAndBus(ctx context.Context, g *globals) (bus.Config, *readmodel.DB, error) {
	cfg, err := g.busConfig()
	if err != nil {
		return cfg, nil, err
	}
	if err := ensureDataDir(g.dataDir); err != nil {
		return cfg, nil, err
	}
	db, err := readmodel.Open(ctx, g.readModelPath(), readmodel.WithCatalog(demo.Catalog()))
	if err != nil {
		return cfg, nil, errors.Join(fmt.Errorf("open read models %s", g.readModelPath()), err)
	}
	return cfg, db, nil
}

// connectOrReadModel connects, or, when the brokers cannot be reached and
// the data directory has read models, returns no client and why: list and
// inspect then answer from the read models alone, saying how old they are.
func connectOrReadModel(ctx context.Context, g *globals) (*client.Client, error, error) {
	c, err := connect(ctx, g)
	if err == nil {
		return c, nil, nil
	}
	if _, statErr := os.Stat(g.readModelPath()); statErr != nil || ctx.Err() != nil {
		return nil, nil, err
	}
	var u usageError
	if errors.As(err, &u) {
		return nil, nil, err
	}
	return nil, err, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
