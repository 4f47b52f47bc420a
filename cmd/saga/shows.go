package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

func newShows(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "shows", Short: "Add shows and search them by venue",
		Example: "  saga shows search --country US\n  saga shows add --id show-9 --title Hamlet --venue Globe --country GB --capacity 300 --price 45.00"}
	cmd.AddCommand(newShowsAdd(g), newShowsSearch(g))
	return cmd
}

func newShowsAdd(g *globals) *cobra.Command {
	var d events.ShowData
	var price float64
	var wait time.Duration
	var operator string
	cmd := &cobra.Command{
		Use:     "add",
		Example: `  saga shows add --id show-9 --title "Hamlet" --venue "Globe" --city London --country GB --capacity 300 --price 45.00 --wait 15s`,
		Short:   "Put a show on sale: an add-show saga lists it at the booking service",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d.PriceCents = int64(price*100 + 0.5)
			if err := d.Validate(); err != nil {
				return usageError{err}
			}
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			listed, ok, err := findShow(cmd.Context(), g, c, d.ShowID)
			if err != nil {
				return err
			}
			if err := client.CheckNewShow(d, listed, ok); errors.Is(err, client.ErrShowExists) {
				fmt.Fprintln(os.Stderr, "saga: "+err.Error())
				return nil
			} else if err != nil {
				return err
			}
			rec, err := c.AddShow(cmd.Context(), d, operatorActor(operator))
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
	f.StringVar(&d.ShowID, "id", "", "show id (no spaces)")
	f.StringVar(&d.Title, "title", "", "title")
	f.StringVar(&d.Venue, "venue", "", "venue")
	f.StringVar(&d.City, "city", "", "city of the venue")
	f.StringVar(&d.State, "state", "", "state of the venue")
	f.StringVar(&d.Country, "country", "", "country of the venue, a two-letter code (US)")
	f.IntVar(&d.Capacity, "capacity", 0, "seats")
	f.Float64Var(&price, "price", 0, "price of a seat, e.g. 25.00")
	f.DurationVar(&wait, "wait", 0, "wait up to this long for the show to be listed")
	for _, name := range []string{"id", "title", "venue", "country", "capacity", "price"} {
		_ = cmd.MarkFlagRequired(name)
	}
	addOperatorFlag(cmd, &operator)
	return cmd
}

func newShowsSearch(g *globals) *cobra.Command {
	var country, state string
	cmd := &cobra.Command{
		Use: "search [--country C [--state S]]",
		Example: `  saga shows search
  saga shows search --country US --state CA`,
		Short: "Shows on sale (in a country, and state, when given), with the seats left",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			found, stale, err := searchShows(cmd.Context(), g, c, country, state)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(found)
			}
			defer fmt.Fprintf(os.Stderr, "(%s)\n", stale)
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SHOW\tTITLE\tVENUE\tCITY\tSTATE\tCOUNTRY\tPRICE\tSEATS LEFT")
			for _, s := range found {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d.%02d\t%d of %d\n", s.ShowID, s.Title, s.Venue, s.City, s.State,
					s.Country, s.PriceCents/100, s.PriceCents%100, s.Available, s.Capacity)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&country, "country", "", "two-letter country code of the venue (default: every country)")
	cmd.Flags().StringVar(&state, "state", "", "state of the venue")
	return cmd
}

// searchShows answers from the read model of the data directory when there
// is one, and from the booking log otherwise.
func searchShows(ctx context.Context, g *globals, c *client.Client, country, state string) ([]projections.ShowListing, staleness, error) {
	db, ok, err := openReadModel(ctx, g)
	if err != nil {
		return nil, staleness{}, err
	}
	if ok {
		defer db.Close()
		stale, err := staleOf(ctx, c.Config(), db, readmodel.ProjectionShows, readmodel.ProjectionInventory)
		if err != nil {
			return nil, stale, err
		}
		found, err := db.SearchShows(ctx, country, state)
		return found, stale, err
	}
	shows, err := c.Shows(ctx)
	if err != nil {
		return nil, staleness{}, err
	}
	return shows.Search(country, state), staleness{Source: "logs"}, nil
}

// findShow is the show on sale under id, from the read model when the data
// directory has one, else from the booking log.
func findShow(ctx context.Context, g *globals, c *client.Client, id string) (events.ShowData, bool, error) {
	db, ok, err := openReadModel(ctx, g)
	if err != nil {
		return events.ShowData{}, false, err
	}
	var all []projections.ShowListing
	if ok {
		defer db.Close()
		all, err = db.SearchShows(ctx, "", "")
	} else {
		var shows *projections.Shows
		if shows, err = c.Shows(ctx); err == nil {
			l, found := shows.Get(id)
			return l.ShowData, found, nil
		}
	}
	for _, s := range all {
		if s.ShowID == id {
			return s.ShowData, true, nil
		}
	}
	return events.ShowData{}, false, err
}
