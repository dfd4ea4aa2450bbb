package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// NewCmdConfig builds `rewind config check`.
func NewCmdConfig(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with rewind.yaml"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Check rewind.yaml and list every problem at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.Config()
			if err != nil {
				return err
			}
			if o.JSON {
				return o.printJSON(cfg)
			}
			fmt.Fprintf(o.Out, "ok: temporal %s (namespace %s, task queue %s)\n", cfg.Temporal.Address, cfg.Temporal.Namespace, cfg.Temporal.TaskQueue)
			fmt.Fprintf(o.Out, "stacks: %s\n", strings.Join(cfg.StackNames(), ", "))
			fmt.Fprintf(o.Out, "approvers: %d\n", len(cfg.Approvers))
			if warning := cfg.WordWarning(); warning != "" {
				fmt.Fprintf(o.Out, "warning: %s\n", warning)
			} else {
				fmt.Fprintln(o.Out, "signatures: required for every start and decision")
			}
			for _, w := range cfg.GuardWarnings() {
				fmt.Fprintf(o.Out, "warning: %s\n", w)
			}
			return nil
		},
	}
	check.Flags().BoolVar(&o.JSON, "json", false, "print the loaded configuration as JSON")
	cmd.AddCommand(check)
	return cmd
}
