package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/algotrendy/rewind/buildinfo"
)

// NewCmdVersion builds `rewind version`, the same line as `rewind --version`.
func NewCmdVersion(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit of this build",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(o.Out, buildinfo.Version("rewind"))
			return err
		},
	}
}
