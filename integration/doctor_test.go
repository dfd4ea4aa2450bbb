package integration

import (
	"archive/tar"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
)

// doctorHost is a Docker host as `rewind doctor` finds it: the stack's volume exists (made
// here: doctor only asks the engine whether it does), the compose file is in place, a
// backup of the volume lies in the backups folder, and alice's key is in the policy.
type doctorHost struct {
	*env
	aliceKey string
}

func newDoctorHost(t *testing.T, s *suite, temporalAddr string, o stackOptions) *doctorHost {
	t.Helper()
	key, pub := sshKey(t, "alice")
	if o.keys == nil {
		o.keys = map[string]string{"alice": pub}
	}
	e := newEnv(t, s, temporalAddr, o)
	ctx := context.Background()
	_, err := s.engine.VolumeCreate(ctx, client.VolumeCreateOptions{Name: demostack.Volume(e.project)})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = s.engine.VolumeRemove(ctx, demostack.Volume(e.project), client.VolumeRemoveOptions{Force: true})
	})
	e.writeBackupAt(time.Now().Add(-3*time.Hour), tarGz(t, tar.Header{Name: "questdb_data/_data/db/market_data.d", Typeflag: tar.TypeReg, Size: 4096}))
	return &doctorHost{env: e, aliceKey: key}
}

// doctor runs `rewind doctor` for the env's stack as alice and returns its exit code and
// its output with what differs between runs and machines replaced by names in <>.
func (h *doctorHost) doctor(srvAddr string, args ...string) (int, string) {
	h.t.Helper()
	code, out, errOut := h.rewind(append([]string{"doctor", "--stack", h.stack, "--as", "alice"}, args...)...)
	h.t.Logf("rewind doctor (exit %d):\n%s%s", code, out, errOut)
	return code, h.normalize(srvAddr, out)
}

func (h *doctorHost) normalize(srvAddr, out string) string {
	// The engine's data root differs between machines (/var/lib/docker, or rootless).
	if m := regexp.MustCompile(`free under (/\S*?)(;| for)`).FindStringSubmatch(out); m != nil {
		out = strings.ReplaceAll(out, m[1], "<data root>")
	}
	out = strings.NewReplacer(h.dir, "<dir>", h.taskQueue, "<queue>", h.host, "<host>", h.project, "<project>", srvAddr, "<temporal>", h.aliceKey, "<alice's key>").Replace(out)
	for _, r := range []struct{ re, with string }{
		{`\d+@[^@\s,]+@rewind-worker .*?\)( \(build)`, "<pid>@<hostname>@rewind-worker <version>${1}"},
		{`\(build [0-9a-f]+\)`, "(build <binary checksum>)"},
		{`Docker Engine \S+ \(API \S+\) at \S+`, "Docker Engine <version> (API <version>) at <engine>"},
		{`(?m)^(OK\s+compose\s+).*$`, "${1}<compose CLI> <version>"},
		{`(?m)^\S+(\s+gzip\s+).*\n(\s+→ .*\n)?`, "<status>${1}<this machine's decompressor>\n"},
		{`[\d.]+ [KMGT]?i?B free under`, "<free> free under"},
		{`is [\d.]+s (ahead of|behind) this machine's \(±[\d.]+s`, "is <offset> ahead of or behind this machine's (±<uncertainty>"},
		{`questdb_backup_\d{8}_\d{6}\.tar\.gz`, "<backup>"},
		{`(newest <backup>, )\S+ old`, "${1}<age> old"},
		{`read whole \S+ ago`, "read whole <age> ago"},
		{`SHA256:[A-Za-z0-9+/]+`, "<fingerprint>"},
		{`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`, "<time>"},
	} {
		out = regexp.MustCompile(r.re).ReplaceAllString(out, r.with)
	}
	return out
}

// requireGolden compares out with testdata/doctor/<name>; REWIND_UPDATE_GOLDEN=1 rewrites it.
func requireGolden(t *testing.T, name, out string) {
	t.Helper()
	path := filepath.Join("testdata", "doctor", name)
	if os.Getenv("REWIND_UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "REWIND_UPDATE_GOLDEN=1 writes it")
	require.Equal(t, string(want), out)
}

// TestDoctor: `rewind doctor` on a Docker host, against the embedded Temporal and the real
// worker, passes a host ready for a rollback and, for each thing it checks that can
// break here, names it, says what to do and exits 1.
func TestDoctor(t *testing.T) {
	s := needDocker(t)
	srv, _ := startTemporal(t)
	addr := srv.GRPCAddr()

	t.Run("a host ready for a rollback", func(t *testing.T) {
		h := newDoctorHost(t, s, addr, stackOptions{})
		code, out, errOut := h.rewind("backups", h.stack, "--verify")
		require.Equal(t, 0, code, out+errOut)
		h.startWorker()

		code, out = h.doctor(addr, "--key", h.aliceKey)
		require.Equal(t, 0, code)
		requireGolden(t, "ready.txt", out)

		code, raw, _ := h.rewind("doctor", "--stack", h.stack, "--as", "alice", "--key", h.aliceKey, "--json")
		require.Equal(t, 0, code)
		var up struct {
			OK     bool
			Checks []struct{ Name, Status string }
		}
		require.NoError(t, json.Unmarshal([]byte(raw), &up), raw)
		require.True(t, up.OK)
		require.Len(t, up.Checks, strings.Count(out, "\n")-1-strings.Count(out, "→"), "one JSON check per line of the checklist")
	})

	t.Run("no worker polls", func(t *testing.T) {
		h := newDoctorHost(t, s, addr, stackOptions{})
		code, out := h.doctor(addr, "--key", h.aliceKey)
		require.Equal(t, 1, code)
		requireGolden(t, "no-worker.txt", out)
	})

	// No room: the newest backup is a sparse file of 15 TiB, far more than the engine's
	// data root has free on any machine that runs this, and costing no disk: the store
	// reports its size as any backup's, which is all doctor reads of it.
	t.Run("no room for a staging restore", func(t *testing.T) {
		h := newDoctorHost(t, s, addr, stackOptions{})
		huge := filepath.Join(h.backups, demostack.BackupName(time.Now().Add(-time.Hour)))
		f, err := os.Create(huge)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(15<<40))
		require.NoError(t, f.Close())
		h.startWorker()
		code, out := h.doctor(addr, "--key", h.aliceKey)
		require.Equal(t, 1, code)
		requireGolden(t, "no-room.txt", out)
	})

	t.Run("alice has keys and none to sign with", func(t *testing.T) {
		h := newDoctorHost(t, s, addr, stackOptions{})
		h.startWorker()
		code, out := h.doctor(addr) // no --key, no identity.key, no agent
		require.Equal(t, 1, code)
		requireGolden(t, "no-key.txt", out)
	})

	// A skewed clock, simulated through the key's validity: the allowed signers file
	// makes alice's key valid from an hour after now, which is what the worker would see
	// of a key made valid from now on a machine whose clock runs an hour behind
	// Temporal's. Doctor judges the key at Temporal's time and says so.
	t.Run("alice's key is not valid by Temporal's clock", func(t *testing.T) {
		key, pub := sshKey(t, "alice-new")
		signers := filepath.Join(t.TempDir(), "allowed_signers")
		validAfter := time.Now().Add(time.Hour).UTC().Format("20060102150405Z")
		require.NoError(t, os.WriteFile(signers, []byte("alice valid-after=\""+validAfter+"\" "+pub+"\n"), 0o600))
		h := newDoctorHost(t, s, addr, stackOptions{keys: map[string]string{}, config: "policy: {allowed_signers: " + strconv.Quote(signers) + "}\n"})
		h.startWorker()
		code, out := h.doctor(addr, "--key", key)
		require.Equal(t, 1, code)
		out = strings.ReplaceAll(out, signers, "<allowed signers>")
		requireGolden(t, "key-not-yet-valid.txt", out)
	})
}

// TestBinariesSayTheirVersion: both binaries print one line from their build information,
// and exit 0 without a configuration or a Temporal to reach.
func TestBinariesSayTheirVersion(t *testing.T) {
	for name, want := range map[string]string{"rewind": "rewind ", "worker": "rewind-worker "} {
		cmd := exec.Command(filepath.Join(shared.bin, name), "--version")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "REWIND_CONFIG=/nonexistent/rewind.yaml")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s --version: %s", name, out)
		require.True(t, strings.HasPrefix(string(out), want), "%s --version: %q", name, out)
		require.Equal(t, 1, strings.Count(string(out), "\n"), "one line: %q", out)
	}
}
