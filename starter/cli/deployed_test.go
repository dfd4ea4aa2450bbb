package cli

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// rewind deployed takes the deploy command only after --, and refuses before it starts
// anything (no backup, no guard) when told something it cannot use.
func TestDeployedRefusesWhatItCannotUseBeforeTakingABackup(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deployed", "--stack", "prod", "--version", "v2.7", "docker", "compose", "up"}, "unknown command"},
		{[]string{"deployed", "--stack", "prod", "--", "true"}, "deployed needs --version"},
		{[]string{"guard", "--stack", "prod", "--", "true"}, "unknown command"},
		{[]string{"guard", "--stack", "prod", "--no-backup"}, "unknown flag: --no-backup"},
	} {
		o := &Options{}
		root := NewRootCmd(o)
		root.SetArgs(tc.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		require.ErrorContains(t, root.Execute(), tc.want, "%v", tc.args)
	}
}
