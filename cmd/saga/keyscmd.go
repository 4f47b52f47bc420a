package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/sign"
)

func newKeys(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use: "keys",
		Example: `  saga keys list
  saga keys rotate --principal payment --retire-after 24h`,
		Short: "List and rotate the keys the parts sign their records with",
		Long: `Every part signs what it writes with a key of its own, and every part checks
what it reads against the keyring: keyring.json and <principal>.key files in
the key directory (--keys, else the data directory's keys/).`,
		Args: noArgs,
	}
	cmd.AddCommand(newKeysList(g), newKeysRotate(g))
	return cmd
}

func newKeysList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list",
		Example: `  saga keys list
  saga keys list --keys /etc/saga/keys -o json`,
		Short: "List the trusted keys: id, principal and end of validity",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.keysDir == "" {
				if _, _, err := g.signing(); err != nil {
					return err
				}
			}
			ring, err := sign.LoadKeyring(filepath.Join(g.keyDir(), sign.KeyringFile))
			if err != nil {
				return err
			}
			type row struct {
				ID        string `json:"kid"`
				Principal string `json:"principal"`
				NotAfter  string `json:"not_after,omitempty"`
			}
			var rows []row
			for _, k := range ring.Keys() {
				r := row{ID: k.ID, Principal: k.Principal}
				if !k.NotAfter.IsZero() {
					r.NotAfter = k.NotAfter.UTC().Format(time.RFC3339)
				}
				rows = append(rows, r)
			}
			if g.json() {
				return printJSON(rows)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-14s %-34s %s\n", "PRINCIPAL", "KEY ID", "VALID UNTIL")
			for _, r := range rows {
				fmt.Fprintf(w, "%-14s %-34s %s\n", r.Principal, r.ID, first(r.NotAfter, "-"))
			}
			return nil
		},
	}
}

func newKeysRotate(g *globals) *cobra.Command {
	var principal string
	var retire time.Duration
	cmd := &cobra.Command{
		Use:     "rotate",
		Example: "  saga keys rotate --principal payment --retire-after 24h",
		Short:   "Give a principal a new key; the old one stays trusted until --retire-after from now",
		Long: `rotate writes a new <principal>.key and adds its public key to keyring.json; the
old key stays in the keyring, valid until --retire-after from now, so records it
signed meanwhile are still obeyed. Copy keyring.json to every part's key
directory, restart the principal's processes with the new key file, and the
old key is refused once its time is up.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if principal == "" {
				return usageError{fmt.Errorf("--principal is required")}
			}
			if retire < 0 {
				return usageError{fmt.Errorf("--retire-after must not be negative, got %s", retire)}
			}
			if g.keysDir == "" {
				if _, _, err := g.signing(); err != nil {
					return err
				}
			}
			old, fresh, err := rotateKey(g.keyDir(), principal, retire, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s signs with %s; %s is trusted until %s\n", principal, fresh, first(old, "no older key"),
				time.Now().Add(retire).UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&principal, "principal", "", "whose key: orchestrator, user, booking, payment, notification, client or operator")
	cmd.Flags().DurationVar(&retire, "retire-after", 24*time.Hour, "how long the old key stays trusted")
	return cmd
}
