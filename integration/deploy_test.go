package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorkerUnitPassesSystemdVerify checks the shipped systemd unit with systemd's own
// verifier, pointed at the worker binary the suite built.
func TestWorkerUnitPassesSystemdVerify(t *testing.T) {
	s := needDocker(t)
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("REWIND_REQUIRE_DOCKER") == "1" {
			t.Fatal("no systemd-analyze here: install Debian's systemd package (.ci/run does)")
		}
		t.Skip("no systemd-analyze here")
	}
	unit, err := os.ReadFile("../examples/production/rewind-worker.service")
	require.NoError(t, err)
	const shipped = "ExecStart=/usr/local/bin/rewind-worker "
	require.Contains(t, string(unit), shipped)
	file := filepath.Join(t.TempDir(), "rewind-worker.service")
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(string(unit), shipped, "ExecStart="+filepath.Join(s.bin, "worker")+" ", 1)), 0o644))
	out, err := exec.Command(analyze, "verify", file).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has something to say")
}

// TestTemporalComposeFileIsValid runs the compose CLI's own check over the operators'
// docker-compose.temporal.yml.
func TestTemporalComposeFileIsValid(t *testing.T) {
	needDocker(t)
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is needed: install Debian's docker-compose package (.ci/run does)")
	}
	cmd := exec.Command(compose, "-f", "../docker-compose.temporal.yml", "config", "--services")
	cmd.Env = append(os.Environ(), "TEMPORAL_DB_PASSWORD=checked-only")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, svc := range []string{"postgresql", "temporal-admin-tools", "temporal", "temporal-create-namespace", "temporal-ui", "rewind-worker"} {
		require.Contains(t, strings.Fields(string(out)), svc)
	}
	cmd = exec.Command(compose, "-f", "../docker-compose.temporal.yml", "config")
	cmd.Env = append(os.Environ(), "TEMPORAL_DB_PASSWORD=")
	out, err = cmd.CombinedOutput()
	require.Error(t, err, "a missing database password is refused")
	require.Contains(t, string(out), "set TEMPORAL_DB_PASSWORD")
}
