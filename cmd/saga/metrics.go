package main

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/metrics"
)

// metricsFlag is --metrics: a listener of its own that serves only
// /metrics, for a part run alone (saga up --parts orchestrator) that has
// no HTTP API to serve it on.
type metricsFlag struct{ addr string }

func (f *metricsFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "metrics", "", "also serve Prometheus metrics at /metrics on `ADDR` (HOST:PORT), for parts run without the HTTP API, whose listener serves them too")
}

func (f metricsFlag) validate() error {
	if f.addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return usagef("--metrics must be HOST:PORT, got %q", f.addr)
	}
	return nil
}

// metricsOn returns the process's metrics when something serves them:
// the HTTP API (on httpAddr) or --metrics. Otherwise nil, and nothing is
// recorded.
func metricsOn(httpAddr string, f metricsFlag) *metrics.Metrics {
	if httpAddr == "" && f.addr == "" {
		return nil
	}
	return metrics.New()
}

// serve starts the --metrics listener, if any, until ctx ends or the
// returned func, which stops it and waits, is called.
func (f metricsFlag) serve(ctx context.Context, m *metrics.Metrics, log zerolog.Logger) (wait func(), err error) {
	if f.addr == "" || m == nil {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", f.addr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := api.ServeListener(ctx, ln, mux, log.With().Str("service", "metrics").Logger()); err != nil {
			log.Warn().Err(err).Msg("metrics listener stopped")
		}
	}()
	return func() {
		cancel()
		<-done
	}, nil
}
