package main

import (
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/servicefile"
)

// declareServices makes the services of --services (or $SAGA_SERVICES)
// the process's, before any part runs, so that every command of this
// process provisions, signs for and trusts the same set of services.
func (g *globals) declareServices() error {
	g.servicesFile = first(g.flag("services", g.servicesFile), g.env(envServices))
	if g.servicesFile == "" {
		return events.Declare(nil)
	}
	decls, err := servicefile.Load(g.servicesFile)
	if err != nil {
		return err
	}
	return events.Declare(decls)
}
