package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
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
	require.Equal(t, "ok: temporal 127.0.0.1:1 (namespace default, task queue rewind)\nstacks: prod\napprovers: 4\nsignatures: required for every start and decision\n", out)
}

func TestConfigCheckSaysPlainlyWhatIsTakenOnWord(t *testing.T) {
	code, out, errOut := runCLI("config", "check", "--config", "testdata/keyed.yaml")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, 1, strings.Count(out, "warning:"), "said once:\n%s", out)
	require.Contains(t, out, "warning: policy.require_signatures is off: decisions are taken on word: anyone with write access to the namespace can start and approve as any person without keys (bob); people with keys must still sign")
}

// TestAStartStatementNamesEverythingTheRequestDecides prints the statement `rewind start`
// signs and reads it back: every flag, the reason's digest, a fresh nonce, a short life.
func TestAStartStatementNamesEverythingTheRequestDecides(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	args := []string{"start", "full", "--stack", "prod", "--severity", "P2", "--reason", "market_data corrupted", "--as", "alice",
		"--backup", "questdb_backup_20261125_020000.tar.gz", "--no-put-back", "--print-statement"}
	before := time.Now()
	code, out, errOut := runCLI(args...)
	require.Equal(t, ExitOK, code, errOut)
	st, err := identity.ParseStatement([]byte(out))
	require.NoError(t, err)
	require.Equal(t, identity.Statement{
		WorkflowID: "rewind-prod", Person: "alice", Action: identity.ActionStartFull, Severity: "P2", Stack: "prod",
		PinnedBackup: "questdb_backup_20261125_020000.tar.gz", NoPutBack: true, ReasonDigest: identity.ReasonDigest("market_data corrupted"),
		Nonce: st.Nonce, Expires: st.Expires,
	}, st)
	require.Len(t, st.Nonce, 32)
	require.False(t, st.Expires.After(before.Add(api.MaxStartSignedFor)), "good for at most %s", api.MaxStartSignedFor)
	require.True(t, st.Expires.After(before), "%s", st.Expires)

	_, again, _ := runCLI(args...)
	st2, err := identity.ParseStatement([]byte(again))
	require.NoError(t, err)
	require.NotEqual(t, st.Nonce, st2.Nonce, "each start gets its own nonce")

	code, out, errOut = runCLI("start", "quick", "--group", "markets", "--severity", "P1", "--reason", "API 500s", "--as", "alice",
		"--to", "v2.5", "--reset", "--print-statement", "--config", "testdata/group.yaml")
	require.Equal(t, ExitOK, code, errOut)
	st, err = identity.ParseStatement([]byte(out))
	require.NoError(t, err)
	require.Equal(t, "rewind-group-markets", st.WorkflowID)
	require.Equal(t, []any{"", "markets", "v2.5", true}, []any{st.Stack, st.Group, st.Ref, st.Reset})
}

func TestAPersonWithKeysMustSignEvenWhereTheWorkerDoesNotRequireIt(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	code, _, errOut := runCLI("start", "full", "--stack", "prod", "--severity", "P2", "--reason", "r", "--as", "alice", "--config", "testdata/keyed.yaml")
	require.Equal(t, ExitBadInput, code, errOut)
	require.Contains(t, errOut, "alice has keys: sign with ssh-agent or --key: add alice's key to ssh-agent (ssh-add), pass --key FILE")
}
