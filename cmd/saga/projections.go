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
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/readmodel"
)

func (g *globals) readModelPath() string { return filepath.Join(g.dataDir, readmodel.FileName) }

// openReadModel opens the read models kept by `saga up` in the data
// directory; ok is false when there are none (the system runs elsewhere),
// and the caller answers from the logs instead.
func openReadModel(g *globals) (*readmodel.DB, bool, error) {
	if _, err := os.Stat(g.readModelPath()); err != nil {
		return nil, false, nil
	}
	db, err := readmodel.Open(g.readModelPath(), readmodel.WithCatalog(demo.Catalog()))
	return db, err == nil, err
}

// staleness says how far the read models are behind the logs.
type staleness struct {
	LagEvents  int64   `json:"lag_events"`
	LagSeconds float64 `json:"lag_seconds"`
	Source     string  `json:"source"`
}

func (s staleness) String() string {
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
	cmd := &cobra.Command{Use: "projections", Short: "The read models: how far behind the logs they are, and rebuilding them"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Per projection: its offsets, the end of the log, and the lag in events and seconds",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, db, err := readModelAndBus(g)
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
		Use:   "rebuild [NAME...]",
		Short: "Replay the logs from offset zero into fresh tables, then swap them in (every projection when none is named)",
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if !slices.Contains(readmodel.Names(), a) {
					return usagef("unknown projection %q (want one of %v)", a, readmodel.Names())
				}
			}
			cfg, db, err := readModelAndBus(g)
			if err != nil {
				return err
			}
			defer db.Close()
			start := time.Now()
			res, err := readmodel.Rebuild(cmd.Context(), cfg, db, args...)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(res)
			}
			for _, r := range res {
				fmt.Printf("%+v\n", r)
			}
			fmt.Printf("rebuilt in %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		},
	})
	return cmd
}

// readModelAndBus opens the read models of the data directory (creating
// them if needed) and the connection to the logs.
func readModelAndBus(g *globals) (bus.Config, *readmodel.DB, error) {
	cfg, err := g.busConfig()
	if err != nil {
		return cfg, nil, err
	}
	if err := os.MkdirAll(g.dataDir, 0o755); err != nil {
		return cfg, nil, err
	}
	db, err := readmodel.Open(g.readModelPath(), readmodel.WithCatalog(demo.Catalog()))
	if err != nil {
		return cfg, nil, errors.Join(fmt.Errorf("open read models %s", g.readModelPath()), err)
	}
	return cfg, db, nil
}
