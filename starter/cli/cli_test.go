package cli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	// A port nothing listens on: a command that tried to reach Temporal would exit 1, not 2.
	// A later --config wins over the example's.
	code := Main(append([]string{"--config", "../../rewind.example.yaml", "--address", "127.0.0.1:1"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestBadInputExitsTwoWithAMessageThatSaysWhatToDo(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "") // no key to sign with, whatever the machine has
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown stack", []string{"start", "emergency", "--stack", "nosuch", "--severity", "P1", "--reason", "r", "--as", "alice"}, `unknown stack "nosuch"; known stacks: prod`},
		{"no requester", []string{"start", "emergency", "--stack", "prod", "--severity", "P1", "--reason", "r", "--as", " "}, "who asks is unknown: pass --as NAME or set identity.name"},
		{"requester not in the policy", []string{"start", "full", "--stack", "prod", "--severity", "P2", "--reason", "r", "--as", "mallory"}, "mallory is not in the policy of rewind.yaml and may not start rollbacks"},
		{"P1 without the role", []string{"start", "full", "--stack", "prod", "--severity", "P1", "--reason", "r", "--as", "bob", "--config", "testdata/junior.yaml"}, "bob is trainee and may not start a P1 full rollback: it needs on-call or above"},
		{"unsigned where signatures are required", []string{"start", "full", "--stack", "prod", "--severity", "P2", "--reason", "r", "--as", "alice", "--config", "testdata/signed.yaml"}, "this worker requires signatures: add alice's key to ssh-agent"},
		{"backup pinned for a code rollback", []string{"start", "quick", "--stack", "prod", "--severity", "P1", "--reason", "r", "--as", "alice", "--backup", "b.tar.gz"}, "--backup pins what a full rollback restores; a quick rollback restores no data"},
		{"version for a data rollback", []string{"start", "full", "--stack", "prod", "--severity", "P1", "--reason", "r", "--as", "alice", "--to", "v2.5"}, "--to and --reset move the git checkout of quick and git rollbacks; a full rollback does not"},
		{"unknown option", []string{"start", "rollforward", "--stack", "prod", "--severity", "P1", "--reason", "r"}, `unknown option "rollforward"; use one of quick, full, git, emergency`},
		{"missing flags", []string{"start", "emergency", "--stack", "prod"}, "missing --reason, --severity; see `rewind start --help`"},
		{"bad severity", []string{"start", "emergency", "--stack", "prod", "--severity", "P7", "--reason", "r", "--as", "alice"}, `unknown severity "P7"; use P1 (critical), P2 (major) or P3 (minor)`},
		{"unknown flag", []string{"start", "emergency", "--stak", "prod"}, "unknown flag: --stak (see --help)"},
		{"reject without reason", []string{"reject", "rewind-prod", "--as", "bob"}, "reject needs --reason"},
		{"approver not configured", []string{"approve", "rewind-prod", "--as", "mallory"}, "mallory is not an approver in rewind.yaml"},
		{"list limit", []string{"list", "--limit", "0"}, "--limit 0: want a number above 0"},
		{"bad config", []string{"--config", "/nonexistent/rewind.yaml", "config", "check"}, "(file): got /nonexistent/rewind.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(tc.args...)
			require.Equal(t, ExitBadInput, code, errOut)
			require.Contains(t, errOut, tc.want)
		})
	}
}

func TestUnreachableTemporalExitsOneNamingTheAddress(t *testing.T) {
	code, _, errOut := runCLI("status", "prod")
	require.Equal(t, ExitFailed, code)
	require.Contains(t, errOut, "connect to Temporal at 127.0.0.1:1 (namespace default)")
}

func TestHelpShowsExamples(t *testing.T) {
	code, out, _ := runCLI("start", "--help")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, `rewind start emergency --stack prod --severity P1 --reason`)
	require.Contains(t, out, "--wait")
}

func TestConfigCheckSummarizesAValidFile(t *testing.T) {
	code, out, errOut := runCLI("config", "check")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "ok: temporal 127.0.0.1:1 (namespace default, task queue rewind)\nstacks: prod\napprovers: 4\n", out)
}
