package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/saga"
)

func newDefinitions(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "definitions",
		Aliases: []string{"definition", "defs"},
		Example: `  saga definitions apply -f book-ticket-lite.yaml
  saga definitions list
  saga definitions show book-ticket --version 3f2a9c
  saga definitions diff book-ticket 3f2a9c 81be07
  saga definitions dry-run -f book-ticket.yaml --since 24h`,
		Short: "Saga definitions as data: apply a file as a new version, list, show and compare versions",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDefinitionsApply(g), newDefinitionsList(g), newDefinitionsShow(g), newDefinitionsDiff(g), newDefinitionsDryRun(g))
	return cmd
}

// readSpecFile reads and compiles a definition file ("-" is stdin): a
// file that does not compile is a usage error naming every problem.
func readSpecFile(g *globals, file string) (definition.Spec, saga.Definition, error) {
	if file == "" {
		return definition.Spec{}, saga.Definition{}, usagef("-f FILE is required")
	}
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, 2<<20))
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return definition.Spec{}, saga.Definition{}, usageError{err}
	}
	spec, err := definition.Parse(raw)
	if err != nil {
		return spec, saga.Definition{}, usagef("%s: %v", file, err)
	}
	def, err := spec.Compile(g.knownServices())
	if err != nil {
		return spec, def, usagef("%s: %v", file, err)
	}
	return spec, def, nil
}

// knownServices are the services a definition may name: the built-in
// ones and those --services declares.
func (g *globals) knownServices() definition.Services { return definition.KnownServices() }

// operatorBus is the connection of a command that writes as the back
// office: a definition is applied by an operator, signed with its key.
func (g *globals) operatorBus() (bus.Config, error) {
	cfg, err := g.busConfig()
	if err != nil {
		return cfg, err
	}
	keys, ring, err := g.signing()
	if err != nil {
		return cfg, err
	}
	if ring != nil && keys[events.PrincipalOperator] == nil {
		return cfg, errors.New("this process holds no operator key: applying a definition needs one (--keys DIR with operator.key)")
	}
	return withKeys(cfg, keys, ring, events.PrincipalOperator), nil
}

func newDefinitionsApply(g *globals) *cobra.Command {
	var file, operator string
	cmd := &cobra.Command{
		Use: "apply -f FILE",
		Example: `  saga definitions apply -f examples/hotel/book-ticket-with-hotel.yaml
  saga definitions apply -f - < lite.yaml -o json`,
		Short: "Check a definition file and publish it as the current version of its name",
		Long: "Check a definition file (YAML or JSON, docs/definition.schema.json) against the services that\n" +
			"exist, naming every problem at once, and publish it on saga.definitions as the version new sagas\n" +
			"of its name start on. Running orchestrators pick it up without a restart; sagas already started\n" +
			"finish by the version they started on. Applying the current version again publishes nothing.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, def, err := readSpecFile(g, file)
			if err != nil {
				return err
			}
			read, err := g.busConfig()
			if err != nil {
				return err
			}
			write, err := g.operatorBus()
			if err != nil {
				return err
			}
			if err := bus.WaitReady(cmd.Context(), read); err != nil {
				return err
			}
			published, err := catalogue.Publish(cmd.Context(), read, write, def, operatorActor(operator), time.Now())
			if err != nil {
				return err
			}
			if g.json() {
				o := catalogue.ListingOf(def.Name, def.Version, spec)
				o.Current, o.Published = true, &published
				return printJSON(o)
			}
			if !published {
				fmt.Printf("unchanged: %s version %s is already the current version\n", def.Name, def.Version)
				return nil
			}
			fmt.Printf("applied %s version %s (%d steps): new %s sagas start on it\n", def.Name, def.Version, len(def.Steps), def.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "definition file, YAML or JSON (- for stdin)")
	addOperatorFlag(cmd, &operator)
	return cmd
}

// readCatalogue reads every published version.
func readCatalogue(cmd *cobra.Command, g *globals) ([]catalogue.Version, error) {
	cfg, err := g.busConfig()
	if err != nil {
		return nil, err
	}
	if err := bus.WaitReady(cmd.Context(), cfg); err != nil {
		return nil, err
	}
	log := g.logger()
	vs, _, err := catalogue.Read(cmd.Context(), cfg, func(r bus.Record, err error) {
		log.Warn().Err(err).Int64("offset", r.Offset).Msg("skipped a definition record that does not check")
	})
	return vs, err
}

func newDefinitionsList(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use: "list",
		Example: `  saga definitions list
  saga definitions list --all -o json | jq -r '.[] | .name + " " + .version'`,
		Short: "List the definitions, each at the version new sagas start on (--all: every version)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vs, err := readCatalogue(cmd, g)
			if err != nil {
				return err
			}
			current := catalogue.Current(vs)
			out := []catalogue.Listing{}
			for _, v := range vs {
				isCurrent := current[v.Name].Offset == v.Offset
				if all || isCurrent {
					out = append(out, v.Listing(isCurrent))
				}
			}
			if g.json() {
				return printJSON(out)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tVERSION\tCURRENT\tSTEPS\tPUBLISHED\tBY")
			for _, o := range out {
				names := make([]string, len(o.Steps))
				for i, s := range o.Steps {
					names[i] = s.Name
				}
				cur := ""
				if o.Current {
					cur = "yes"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Name, o.Version, cur, strings.Join(names, ","),
					o.PublishedAt.Local().Format("2006-01-02 15:04:05"), o.Actor)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every version, oldest first, not only the current ones")
	return cmd
}

// findVersion is catalogue.Find, its errors usage errors that say where
// to look.
func findVersion(vs []catalogue.Version, name, version string) (catalogue.Version, error) {
	v, err := catalogue.Find(vs, name, version)
	switch {
	case errors.Is(err, catalogue.ErrNoDefinition):
		return v, usagef("%v (saga definitions list names them)", err)
	case errors.Is(err, catalogue.ErrNoVersion):
		return v, usagef("%v (saga definitions list --all names them)", err)
	case err != nil:
		return v, usageError{err}
	}
	return v, nil
}

func newDefinitionsShow(g *globals) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use: "show NAME",
		Example: `  saga definitions show book-ticket
  saga definitions show book-ticket --version 3f2a9c -o json`,
		Short: "Print a definition's file, at its current version or another",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := readCatalogue(cmd, g)
			if err != nil {
				return err
			}
			v, err := findVersion(vs, args[0], version)
			if err != nil {
				return err
			}
			if g.json() {
				o := v.Listing(catalogue.Current(vs)[v.Name].Offset == v.Offset)
				o.Spec = &v.Spec
				return printJSON(o)
			}
			out, err := yaml.Marshal(v.Spec)
			if err != nil {
				return err
			}
			fmt.Printf("# %s version %s, published %s by %s\n%s", v.Name, v.Version, v.At.Local().Format(time.RFC3339), v.Actor, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "the version (or a unique prefix of it); default the current one")
	return cmd
}

func newDefinitionsDiff(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "diff NAME V1 V2",
		Example: `  saga definitions diff book-ticket 3f2a9c 81be07`,
		Short:   "Say what changes from one version of a definition to another: steps added, removed, moved, each field changed",
		Args:    exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := readCatalogue(cmd, g)
			if err != nil {
				return err
			}
			a, err := findVersion(vs, args[0], args[1])
			if err != nil {
				return err
			}
			b, err := findVersion(vs, args[0], args[2])
			if err != nil {
				return err
			}
			changes := definition.Diff(a.Spec, b.Spec)
			if g.json() {
				return printJSON(struct {
					Name    string   `json:"name"`
					From    string   `json:"from"`
					To      string   `json:"to"`
					Changes []string `json:"changes"`
				}{a.Name, a.Version, b.Version, append([]string{}, changes...)})
			}
			fmt.Printf("%s %s -> %s\n", a.Name, a.Version, b.Version)
			if len(changes) == 0 {
				fmt.Println("no changes")
			}
			for _, c := range changes {
				fmt.Println(c)
			}
			return nil
		},
	}
}
