package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// aclProblems is the error of a check that found ACLs missing or in
// excess: the list is on stdout, and the CLI exits 1 with this one line.
type aclProblems struct{ missing, excess int }

func (p aclProblems) Error() string {
	return fmt.Sprintf("Kafka ACLs differ from what the principals need: %d missing, %d excess (saga acl apply creates the missing ones)", p.missing, p.excess)
}

// aclOut is one ACL as -o json writes it.
type aclOut struct {
	Principal    string `json:"principal"`
	Permission   string `json:"permission"`
	Operation    string `json:"operation"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Host         string `json:"host"`
}

func aclsOut(acls []bus.ACL) []aclOut {
	out := make([]aclOut, 0, len(acls))
	for _, a := range acls {
		out = append(out, aclOut{Principal: a.Principal, Permission: a.Permission, Operation: a.Operation,
			ResourceType: a.ResourceType, ResourceName: a.ResourceName, PatternType: a.PatternType, Host: a.Host})
	}
	return out
}

func newACL(g *globals) *cobra.Command {
	var users string
	cmd := &cobra.Command{
		Use: "acl",
		Example: `  saga acl apply --dry-run --sasl-user admin
  saga acl check --sasl-users payment=svc-payment`,
		Short: "Create or check the Kafka ACLs each principal needs (orchestrator, services, client, operator) and nothing more",
		Long: "Each part of the system may connect to Kafka as its own SASL user, allowed exactly the topics it\n" +
			"reads and writes and its consumer group. These commands run with an administrator's credentials\n" +
			"(--sasl-user, or the config file). A principal's Kafka user is its name unless --sasl-users, else the\n" +
			"--sasl-credentials file, names another.",
	}
	cmd.PersistentFlags().StringVar(&users, "sasl-users", "", "Kafka user of each principal whose user has another name, e.g. payment=svc-payment,client=api (default: the users of --sasl-credentials)")
	wanted := func() ([]bus.ACL, bus.Config, error) {
		m, err := parseSASLUsers(users)
		if err != nil {
			return nil, bus.Config{}, err
		}
		for p, c := range g.creds { // the users the parts will run as
			if m[p] == "" {
				m[p] = c.User
			}
		}
		cfg, err := g.busConfig()
		return bus.ACLsFor(cfg, m), cfg, err
	}

	var dryRun bool
	apply := &cobra.Command{
		Use: "apply",
		Example: `  saga acl apply --dry-run
  saga acl apply --sasl-users payment=svc-payment`,
		Short: "Create the ACLs the cluster lacks, one line each; other ACLs are left alone",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acls, cfg, err := wanted()
			if err != nil {
				return err
			}
			created, err := bus.ApplyACLs(cmd.Context(), cfg, acls, dryRun)
			if err != nil {
				return err
			}
			verb := "created"
			if dryRun {
				verb = "would create"
			}
			if g.json() {
				return printJSON(map[string]any{strings.ReplaceAll(verb, " ", "_"): aclsOut(created)})
			}
			out := cmd.OutOrStdout()
			for _, a := range created {
				fmt.Fprintf(out, "%s %s\n", verb, a)
			}
			if len(created) == 0 {
				fmt.Fprintf(out, "nothing to create: the %d ACLs are in place\n", len(acls))
			}
			return nil
		},
	}
	apply.Flags().BoolVar(&dryRun, "dry-run", false, "print the ACLs that would be created, and create none")

	check := &cobra.Command{
		Use:     "check",
		Example: `  saga acl check`,
		Short:   "List the ACLs missing and those the principals hold in excess; exit status 1 when there is any",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acls, cfg, err := wanted()
			if err != nil {
				return err
			}
			missing, excess, err := bus.CheckACLs(cmd.Context(), cfg, acls)
			if err != nil {
				return err
			}
			if g.json() {
				err = printJSON(map[string]any{"missing": aclsOut(missing), "excess": aclsOut(excess)})
			} else {
				out := cmd.OutOrStdout()
				for _, a := range missing {
					fmt.Fprintf(out, "missing %s\n", a)
				}
				for _, a := range excess {
					fmt.Fprintf(out, "excess  %s\n", a)
				}
				if len(missing)+len(excess) == 0 {
					fmt.Fprintf(out, "ACLs in place: the %d ACLs the principals need, none missing, none in excess\n", len(acls))
				}
			}
			if err == nil && len(missing)+len(excess) > 0 {
				err = aclProblems{len(missing), len(excess)}
			}
			return err
		},
	}
	cmd.AddCommand(apply, check)
	return cmd
}

// parseSASLUsers reads --sasl-users: principal=user pairs, comma
// separated, each principal one of events.Principals and named once.
func parseSASLUsers(s string) (map[string]string, error) {
	users := map[string]string{}
	for _, pair := range splitList(s) {
		p, u, ok := strings.Cut(pair, "=")
		p, u = strings.TrimSpace(p), strings.TrimSpace(u)
		switch {
		case !ok || p == "" || u == "":
			return nil, usagef("--sasl-users: %q is not principal=user", pair)
		case !slices.Contains(events.Principals(), p):
			return nil, usagef("--sasl-users: unknown principal %q (known: %s)", p, strings.Join(events.Principals(), ", "))
		case users[p] != "":
			return nil, usagef("--sasl-users: principal %q is mapped twice", p)
		}
		users[p] = u
	}
	return users, nil
}
