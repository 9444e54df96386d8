package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/naq-io/naq/scope"
)

func newConfigCmd(g *globalFlags) *cobra.Command {
	cfgCmd := &cobra.Command{
		Use:   "config",
		Short: "Work with naq configuration files",
	}
	cfgCmd.AddCommand(&cobra.Command{
		Use:   "check [file]",
		Short: "Validate a config and print the effective configuration, secrets redacted",
		Long: `Validate a configuration and print the effective result of defaults, the
file (the argument, else --config, else NAQ_CONFIG), the profile (--profile or
NAQ_PROFILE), NAQ_* environment variables and --url. Passwords, tokens and
credentials in server URLs are printed as REDACTED.

Exit codes: 0 valid; 2 invalid (the message names the field, the bad value and
what is allowed).`,
		Example: `  naq config check naq.yaml
  naq config check --profile prod naq.yaml
  NAQ_MAX_RECONNECT=-1 naq config check`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				g.config, g.configArg = args[0], true
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			out, err := cfg.YAML()
			if err != nil {
				return failure(fmt.Errorf("config: print: %w", err))
			}
			w := cmd.OutOrStdout()
			src := g.config
			if src == "" {
				src = os.Getenv(scope.EnvConfig)
			}
			if src == "" {
				src = "no file"
			}
			fmt.Fprintf(w, "# config OK (%s); effective configuration, secrets redacted:\n", src)
			_, err = w.Write(out)
			return err
		},
	})
	return cfgCmd
}
