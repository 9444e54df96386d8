package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/naq-io/naq/scope"
)

func newConfigCmd(g *globalFlags) *cobra.Command {
	var strict bool
	cfgCmd := &cobra.Command{
		Use:   "config",
		Short: "Work with naq configuration files",
	}
	check := &cobra.Command{
		Use:   "check [file]",
		Short: "Validate a config and print the effective configuration, secrets redacted",
		Long: `Validate a configuration and print the effective result of defaults, the
file (the argument, else --config, else NAQ_CONFIG), the profile (--profile or
NAQ_PROFILE), NAQ_* environment variables and --url. Passwords, tokens and
credentials in server URLs are printed as REDACTED.

A NAQ_* variable that naq does not read (a misspelt name such as
NAQ_MAX_RECONECT) is ignored with a warning on stderr naming the variable it
most likely meant; with --strict it is an error instead. Every naq command
warns about them.

Exit codes: 0 valid; 2 invalid (the message names the field, the bad value and
what is allowed), or with --strict a NAQ_* variable naq does not read.`,
		Example: `  naq config check naq.yaml
  naq config check --profile prod naq.yaml
  NAQ_MAX_RECONNECT=-1 naq config check
  naq config check --strict   # in CI: fail on a misspelt NAQ_* variable`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				g.config, g.configArg = args[0], true
			}
			if strict {
				g.envChecked = true // an error below, not a warning
				if err := scope.CheckEnv(os.Environ()); err != nil {
					return usageErr(err)
				}
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
	}
	check.Flags().BoolVar(&strict, "strict", false, "fail (exit 2) on NAQ_* environment variables naq does not read, instead of warning")
	cfgCmd.AddCommand(check)
	return cfgCmd
}
