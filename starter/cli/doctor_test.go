package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/algotrendy/rewind/archive"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/config"
)

// requireGolden compares got with testdata/<name>; REWIND_UPDATE_GOLDEN=1 rewrites it.
func requireGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("REWIND_UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "REWIND_UPDATE_GOLDEN=1 writes it")
	require.Equal(t, string(want), got)
}

// sampleCheckup is a checklist with one check of each status, a fix and a failure.
func sampleCheckup() Checkup {
	return Checkup{Checks: []Check{
		{Name: "config", Status: CheckOK, Detail: "loads: stacks prod; 4 approver(s)"},
		{Name: "worker rewind@db-1", Status: CheckFail, Detail: "no worker polls it (Docker steps on db-1 of prod)", Fix: "start the Rewind worker on that host (systemctl start rewind-worker) with this temporal.address and task_queue"},
		gzipCheck(archive.GoGzip), // the goldens pin its words
		{Name: "clock", Status: CheckSkip, Detail: "needs Temporal: not compared"},
	}}
}

func TestDoctorChecklistReadsTheSameEveryTime(t *testing.T) {
	var out bytes.Buffer
	printCheckup(&out, sampleCheckup())
	requireGolden(t, "doctor-blocked.txt", out.String())

	ok := Checkup{OK: true, Checks: sampleCheckup().Checks[2:]}
	out.Reset()
	printCheckup(&out, ok)
	requireGolden(t, "doctor-ok.txt", out.String())

	out.Reset()
	o := &Options{Out: &out}
	require.NoError(t, o.printJSON(sampleCheckup()))
	requireGolden(t, "doctor-blocked.json", out.String())
}

func TestClockCheckFailsOnlyASkewItProves(t *testing.T) {
	now := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	reading := func(serverAhead, roundTrip time.Duration) *clockReading {
		return &clockReading{Before: now, After: now.Add(roundTrip), Server: now.Add(roundTrip / 2).Add(serverAhead)}
	}
	for _, tc := range []struct {
		name    string
		reading *clockReading
		want    Check
	}{
		{"in step", reading(300*time.Millisecond, 40*time.Millisecond), Check{Name: "clock", Status: CheckOK,
			Detail: "Temporal's clock is 0.3s ahead of this machine's (±0.0s; allowed 5s)"}},
		{"Temporal 90s ahead", reading(90*time.Second, 40*time.Millisecond), Check{Name: "clock", Status: CheckFail,
			Detail: "Temporal's clock is 90.0s ahead of this machine's (±0.0s; allowed 5s)",
			Fix:    "set both clocks right (timedatectl set-ntp true on each machine): decisions this machine signs expire 90.0s early or late at the worker"}},
		{"Temporal 6s behind", reading(-6*time.Second, 40*time.Millisecond), Check{Name: "clock", Status: CheckFail,
			Detail: "Temporal's clock is 6.0s behind this machine's (±0.0s; allowed 5s)",
			Fix:    "set both clocks right (timedatectl set-ntp true on each machine): decisions this machine signs expire 6.0s early or late at the worker"}},
		// A slow answer cannot prove a skew smaller than its own round trip.
		{"6s behind over a 4s round trip", reading(-6*time.Second, 4*time.Second), Check{Name: "clock", Status: CheckOK,
			Detail: "Temporal's clock is 6.0s behind this machine's (±2.0s; allowed 5s)"}},
		{"not read", nil, Check{Name: "clock", Status: CheckWarn, Detail: "not compared: read Temporal's clock: poll rewind-doctor-clock-0a1b2c3d4e5f: PermissionDenied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			readErr := errors.New("read Temporal's clock: poll rewind-doctor-clock-0a1b2c3d4e5f: PermissionDenied")
			require.Equal(t, tc.want, clockCheck(tc.reading, readErr, 5*time.Second))
		})
	}
}

// newKey writes an ed25519 private key in OpenSSH format and returns its path, its
// public key and its authorized_keys line.
func newKey(t *testing.T) (string, ssh.PublicKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return path, sshPub, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
}

func TestKeyCheckJudgesTheKeyAtTemporalsTime(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "") // no agent, whatever the machine has
	at := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	key, pub, line := newKey(t)
	other, _, _ := newKey(t)
	fp := ssh.FingerprintSHA256(pub)
	policy := func(aliceKeys ...string) *Options {
		return &Options{cfg: &config.Config{Approvers: []config.Approver{{Name: "alice", Role: "on-call", Keys: aliceKeys}, {Name: "bob", Role: "senior"}}}}
	}
	for _, tc := range []struct {
		name string
		o    *Options
		f    doctorFlags
		want Check
	}{
		{"her key, listed", policy(line), doctorFlags{as: "alice", key: key}, Check{Name: "signing key", Status: CheckOK,
			Detail: fp + " signs as alice, listed at approvers[0].keys[0]"}},
		{"her key, expiring before a decision signed now would", policy(`expiry-time="202612031105Z" ` + line), doctorFlags{as: "alice", key: key}, Check{Name: "signing key", Status: CheckWarn,
			Detail: fp + " signs as alice, listed at approvers[0].keys[0], until 2026-12-03T11:05:00Z by Temporal's clock: a decision signed now outlives it",
			Fix:    "renew the key's expiry-time or valid-before"}},
		{"her key, expired by Temporal's clock", policy(`expiry-time="202612031059Z" ` + line), doctorFlags{as: "alice", key: key}, Check{Name: "signing key", Status: CheckFail,
			Detail: fp + " of alice (approvers[0].keys[0]) expired at 2026-12-03T10:59:00Z, and Temporal's clock says 2026-12-03T11:00:00Z: the worker refuses what it signs",
			Fix:    "if the key's window is right, set both clocks right (timedatectl, NTP); else renew the key in the policy"}},
		{"a key the policy does not give her", policy(line), doctorFlags{as: "alice", key: other}, Check{Name: "signing key", Status: CheckFail,
			Detail: "%s is not a key of alice in the policy: the worker refuses what it signs",
			Fix:    "add its public key to approvers[].keys of alice (ssh-keygen -y -f KEY), or sign with the key listed there"}},
		{"she has keys and none to sign with", policy(line), doctorFlags{as: "alice"}, Check{Name: "signing key", Status: CheckFail,
			Detail: "no key to sign with for alice (alice has keys: sign with ssh-agent or --key): no --key, no identity.key, no key in ssh-agent",
			Fix:    "ssh-add your key, pass --key FILE, or set identity.key"}},
		{"bob has no keys", policy(line), doctorFlags{as: "bob"}, Check{Name: "signing key", Status: CheckWarn,
			Detail: "no key for bob: starts and decisions go unsigned, taken on word",
			Fix:    "add a key for bob to approvers[].keys and to ssh-agent"}},
		{"not in the policy", policy(line), doctorFlags{as: "mallory", key: key}, Check{Name: "signing key", Status: CheckFail,
			Detail: `"mallory" is not in the policy of rewind.yaml: starts and decisions as them are refused`,
			Fix:    "pass --as NAME or set identity.name to your name in approvers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.o.keyCheck(tc.o.cfg, tc.f, at)
			if strings.Contains(tc.want.Detail, "%s") {
				signer, _, err := tc.o.signer("alice", tc.f.key)
				require.NoError(t, err)
				tc.want.Detail = strings.Replace(tc.want.Detail, "%s", ssh.FingerprintSHA256(signer.PublicKey()), 1)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestStateCheckWritesNothing(t *testing.T) {
	dir := t.TempDir()
	require.Equal(t, Check{Name: "state folder", Status: CheckOK, Detail: dir + " is writable"}, stateCheck(dir))
	missing := filepath.Join(dir, "state", "rewind")
	require.Equal(t, Check{Name: "state folder", Status: CheckOK, Detail: missing + " does not exist yet; the worker makes it in " + dir + ", which is writable"}, stateCheck(missing))
	_, err := os.Stat(missing)
	require.True(t, os.IsNotExist(err), "doctor made nothing")
}

func TestGzipCheckWarnsWithoutIgzip(t *testing.T) {
	require.Equal(t, Check{Name: "gzip", Status: CheckOK, Detail: "restores and snapshots go through igzip"}, gzipCheck("igzip"))
	pigz := gzipCheck("pigz")
	require.Equal(t, CheckWarn, pigz.Status)
	require.Contains(t, pigz.Detail, "pigz")
	require.Equal(t, "apt-get install isal (the rewind package depends on it)", pigz.Fix)
	t.Setenv("PATH", t.TempDir()) // a host with neither tool
	cost, install := archive.GzipCost(archive.GoGzip)
	require.Equal(t, Check{Name: "gzip", Status: CheckWarn, Detail: cost, Fix: install}, gzipCheck(archive.Decompressor()),
		"the worker's start-up warning says the same")
	require.Contains(t, cost, "neither igzip nor pigz")
}

func TestDoctorWithoutTemporalSaysSoAndExitsOne(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	code, out, errOut := runCLI("doctor", "--as", "bob", "--stack", "prod")
	require.Equal(t, ExitFailed, code, errOut)
	require.Contains(t, out, "FAIL  temporal      connect to Temporal at 127.0.0.1:1 (namespace default)")
	require.Contains(t, out, "SKIP  clock         needs Temporal: not compared\n")
	require.Contains(t, errOut, "rewind: ")
	require.Contains(t, errOut, "check(s) block a rollback: temporal")
}

func TestVersionFlagAndCommandPrintTheSameLine(t *testing.T) {
	code, flag, _ := runCLI("--version")
	require.Equal(t, ExitOK, code)
	code, cmd, _ := runCLI("version")
	require.Equal(t, ExitOK, code)
	require.Equal(t, flag, cmd)
	require.True(t, strings.HasPrefix(flag, "rewind "), flag)
	require.Equal(t, 1, strings.Count(flag, "\n"), "one line: %q", flag)
}

func TestDoctorListsEveryConfigurationProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(path, []byte("worker: {swap: sideways}\nstacks:\n  prod: {compose_files: [], volumes: [db]}\napprovers:\n  - {name: alice, role: janitor}\n"), 0o600))
	code, out, errOut := runCLI("doctor", "--config", path)
	require.Equal(t, ExitFailed, code)
	requireGolden(t, "doctor-config.txt", strings.ReplaceAll(out, path, "<rewind.yaml>"))
	require.Equal(t, "rewind: 1 check(s) block a rollback: config\n", errOut)
}

func TestKeyCheckKnowsABarePublicKey(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub, _ := newKey(t)
	raw := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(ed25519.PublicKey)
	o := &Options{cfg: &config.Config{Approvers: []config.Approver{{Name: "alice", Role: "on-call", PublicKey: base64.StdEncoding.EncodeToString(raw)}}}}
	require.Equal(t, Check{Name: "signing key", Status: CheckOK, Detail: ssh.FingerprintSHA256(pub) + " signs as alice, listed at approvers[0].public_key"},
		o.keyCheck(o.cfg, doctorFlags{as: "alice", key: key}, time.Now()))
}
