package workflows

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

// keysRig is the rig with signatures required and keys where a test puts them: alice's
// (the requester's) and carol's in approvers[].keys, bob's as bobKey says, and an allowed
// signers file the test may edit while the rollback waits.
type keysRig struct {
	*rig
	signers string
}

func authorizedKey(t *testing.T, p person) string {
	t.Helper()
	pub, err := ssh.NewPublicKey(p.key.Public())
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// newKeysRig writes bob's approvers entry with keys (authorized_keys lines, may be none)
// and the allowed signers file with signersFile (bob's public key stands for {bob}).
func newKeysRig(t *testing.T, bobKeys func(bob string) []string, signersFile func(bob string) string) *keysRig {
	t.Helper()
	r := &rig{t: t, fail: map[string]error{}, people: map[string]person{},
		report: VerifyReport{Passed: true, Checks: []CheckResult{{Name: "data integrity", Passed: true, Evidence: "500 rows"}}}}
	for _, p := range []person{newPerson(t, "alice", "on-call"), newPerson(t, "bob", "senior"), newPerson(t, "carol", "tech-lead")} {
		r.people[p.name] = p
	}
	bob := authorizedKey(t, r.people["bob"])
	dir := t.TempDir()
	signers := filepath.Join(dir, "allowed_signers")
	require.NoError(t, os.WriteFile(signers, []byte(signersFile(bob)), 0o600))
	var bobLines []string
	for _, k := range bobKeys(bob) {
		bobLines = append(bobLines, fmt.Sprintf("%q", k))
	}
	file := filepath.Join(dir, "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`
policy: {require_signatures: true, allowed_signers: %q}
stacks:
  prod:
    project: algotrendy_v26
    compose_files: [docker-compose.prod.yml]
    host: docker-1
    volumes: [{name: db_data, pattern: "backup0_*.tar.gz"}]
    backups: {dir: /backups, require_checksum: true}
approvers:
  - {name: alice, role: on-call, keys: [%q]}
  - {name: bob, role: senior, keys: [%s]}
  - {name: carol, role: tech-lead, keys: [%q]}
`, signers, authorizedKey(t, r.people["alice"]), strings.Join(bobLines, ", "), authorizedKey(t, r.people["carol"]))), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)

	var s testsuite.WorkflowTestSuite
	r.TestWorkflowEnvironment = s.NewTestWorkflowEnvironment()
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.WorkflowID("prod")})
	r.RegisterWorkflow(Full)
	r.RegisterWorkflow(Verify)
	nonces, err := storage.NewFolder(filepath.Join(dir, "evidence"))
	require.NoError(t, err)
	r.nonces = nonces
	r.RegisterActivity(&policy.Activities{Config: cfg, Host: "docker-1", Nonces: nonces})
	for _, a := range []any{&docker.Activities{}, &evidence.Activities{}, &notify.Activities{}, &backup.Activities{}, &probe.Activities{}, &gitrepo.Activities{}, &drill.Activities{}} {
		r.RegisterActivity(a)
	}
	r.mockHost(rigOptions{volumes: []string{"db_data"}})
	return &keysRig{rig: r, signers: signers}
}

// decideAt sends d as an update after a while and keeps the gate's answer, whether the
// validator or the handler gave it.
func (r *keysRig) decideAt(after time.Duration, d api.Decision, got *[]string) {
	r.RegisterDelayedCallback(func() {
		r.UpdateWorkflow(api.DecideUpdate, fmt.Sprint("decision-", after), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { *got = append(*got, "refused: "+err.Error()) },
			OnComplete: func(v any, err error) {
				if err != nil {
					*got = append(*got, "refused: "+err.Error())
					return
				}
				*got = append(*got, "accepted: "+v.(api.DecisionRecord).Reason)
			},
		}, d)
	}, after)
}

func (r *keysRig) bobApproves(after time.Duration, got *[]string) {
	r.decideAt(after, r.signed(r.people["bob"], true, r.forThisRun()), got)
}

func (r *keysRig) carolApproves(after time.Duration, got *[]string) {
	r.decideAt(after, r.signed(r.people["carol"], true, r.forThisRun()), got)
}

func (r *keysRig) forThisRun() identity.Statement {
	return identity.Statement{WorkflowID: api.WorkflowID("prod"), RunID: testRunID, Severity: "P2", Backup: sha('2')}
}

// TestARemovedKeyNoLongerDecides: bob's key is in the allowed signers file when the
// rollback starts and is removed while it waits; his decision, signed with it, is refused
// when it is judged, the gate keeps waiting, and carol's decision counts.
func TestARemovedKeyNoLongerDecides(t *testing.T) {
	r := newKeysRig(t, func(string) []string { return nil }, func(bob string) string { return "bob " + bob + "\n" })
	var got []string
	r.RegisterDelayedCallback(func() { require.NoError(t, os.WriteFile(r.signers, []byte("# bob left the team\n"), 0o600)) }, time.Minute)
	r.bobApproves(2*time.Minute, &got)
	r.carolApproves(3*time.Minute, &got)

	r.ExecuteWorkflow(Full, r.signedRequest(request(api.OptionFull, "P2", "alice")))

	require.NoError(t, r.GetWorkflowError())
	require.Len(t, got, 2)
	require.Contains(t, got[0], "refused: bob's signature is refused")
	require.Contains(t, got[0], "which is not among the 0 allowed")
	require.Contains(t, got[1], "accepted: approved by carol (tech-lead)")
	var log []string
	for _, d := range r.progress().Decisions {
		log = append(log, d.Reason)
	}
	require.Contains(t, log[0], "a decision as bob was refused when its keys were read again")
	require.Contains(t, log[1], "approved by carol")
}

// TestAnExpiredKeyNoLongerDecides: bob's key expires by its approvers line's
// expiry-time (long past, or passing while the rollback waits) or by its allowed signers
// line's valid-before passing while the rollback waits; his decision is refused naming
// when the key expired, and carol's counts.
func TestAnExpiredKeyNoLongerDecides(t *testing.T) {
	soon := time.Now().Add(5 * time.Minute).UTC()
	stamp := soon.Format("20060102150405Z")
	for _, tc := range []struct {
		name    string
		keys    func(bob string) []string
		signers func(bob string) string
		expired time.Time
	}{
		{"expiry-time in the past", func(bob string) []string { return []string{`expiry-time="20200101Z" ` + bob} },
			func(string) string { return "" }, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"expiry-time passing while it waits", func(bob string) []string { return []string{fmt.Sprintf("expiry-time=%q %s", stamp, bob)} },
			func(string) string { return "" }, soon.Truncate(time.Second)},
		{"valid-before passing while it waits", func(string) []string { return nil },
			func(bob string) string { return fmt.Sprintf("bob valid-before=%q %s\n", stamp, bob) }, soon.Truncate(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newKeysRig(t, tc.keys, tc.signers)
			var got []string
			r.bobApproves(10*time.Minute, &got)
			r.carolApproves(11*time.Minute, &got)

			r.ExecuteWorkflow(Full, r.signedRequest(request(api.OptionFull, "P2", "alice")))

			require.NoError(t, r.GetWorkflowError())
			require.Len(t, got, 2)
			require.Contains(t, got[0], "refused: bob's signature is refused: signed with key SHA256:")
			require.Contains(t, got[0], "which expired at "+tc.expired.Format(time.RFC3339))
			require.Contains(t, got[1], "accepted: approved by carol (tech-lead)")
		})
	}
}

// TestAStartIsJudgedByTheKeysOfItsMoment: the worker's policy activity was made while
// bob's key was in the allowed signers file; the key is removed before bob starts a
// rollback signed with it, and the start is refused before any step on the host.
func TestAStartIsJudgedByTheKeysOfItsMoment(t *testing.T) {
	r := newKeysRig(t, func(string) []string { return nil }, func(bob string) string { return "bob " + bob + "\n" })
	require.NoError(t, os.WriteFile(r.signers, []byte("# bob left the team\n"), 0o600))

	r.ExecuteWorkflow(Full, r.signedRequest(request(api.OptionFull, "P1", "bob")))

	err := r.GetWorkflowError()
	require.Equal(t, failure.NotAuthorized, errorType(t, err))
	require.ErrorContains(t, err, "bob's signature is refused: signing key is not allowed")
	require.Empty(t, r.calls, "refused before any step on the host")
}

// TestAKeyCountsFromItsValidAfter: bob's allowed signers line is valid only from a few
// minutes after the rollback starts; his decision before then is refused naming when the
// key becomes valid, and the same decision after then counts.
func TestAKeyCountsFromItsValidAfter(t *testing.T) {
	from := time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second)
	r := newKeysRig(t, func(string) []string { return nil }, func(bob string) string {
		return fmt.Sprintf("bob valid-after=%q %s\n", from.Format("20060102150405Z"), bob)
	})
	var got []string
	r.bobApproves(time.Minute, &got)
	r.bobApproves(10*time.Minute, &got)

	r.ExecuteWorkflow(Full, r.signedRequest(request(api.OptionFull, "P2", "alice")))

	require.NoError(t, r.GetWorkflowError())
	require.Len(t, got, 2)
	require.Contains(t, got[0], "refused: bob's signature is refused: signed with key SHA256:")
	require.Contains(t, got[0], "which is valid only from "+from.Format(time.RFC3339))
	require.Contains(t, got[1], "accepted: approved by bob (senior)")
}
