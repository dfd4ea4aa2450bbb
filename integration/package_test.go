package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDebianPackageInstallsAndRemovesCleanly builds Rewind's .deb with nfpm from the
// binaries the suite built, installs it with dpkg as an operator would, and checks what
// it left: both commands, the worker's unit as systemd reads it, the conffile, the rewind
// user in the docker group, nothing started; then removes and purges it.
func TestDebianPackageInstallsAndRemovesCleanly(t *testing.T) {
	s := needDocker(t)
	for _, tool := range []string{"dpkg", "systemd-analyze", "adduser"} {
		if _, err := exec.LookPath(tool); err != nil || os.Geteuid() != 0 {
			if os.Getenv("REWIND_REQUIRE_DOCKER") == "1" {
				t.Fatalf("installing the package needs root and %s (.ci/run installs it): %v", tool, err)
			}
			t.Skipf("installing the package needs root and %s", tool)
		}
	}
	bin := t.TempDir()
	for from, to := range map[string]string{"rewind": "rewind", "worker": "rewind-worker"} {
		b, err := os.ReadFile(filepath.Join(s.bin, from))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(bin, to), b, 0o755))
	}
	deb := filepath.Join(t.TempDir(), "rewind_0.1.0~test_amd64.deb")
	build := exec.Command("go", "run", ".", "--version", "0.1.0~test", "--bin", bin, "--out", deb)
	build.Dir = "../packaging"
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the package: %s", out)

	dpkg := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		require.NoError(t, err, "dpkg %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	// igzip and pigz come with Rewind: without them restores inflate in Go, about twice as long.
	depends := strings.Split(dpkg("-f", deb, "Depends"), ",")
	for i := range depends {
		depends[i] = strings.TrimSpace(depends[i])
	}
	require.Subset(t, depends, []string{"isal", "pigz"}, "the package brings the fast gzip tools")
	t.Cleanup(func() { _ = exec.Command("dpkg", "--purge", "rewind").Run() })
	installed := dpkg("-i", deb)
	require.Contains(t, installed, "edit /etc/rewind/rewind.yaml", "the package says what to do next")

	out, err = exec.Command("/usr/bin/rewind", "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "rewind")
	out, err = exec.Command("/usr/bin/rewind-worker", "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)

	requireDoctorReachesTemporal(t)

	out, err = exec.Command("systemd-analyze", "verify", "/lib/systemd/system/rewind-worker.service").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has something to say")
	unit, err := os.ReadFile("/lib/systemd/system/rewind-worker.service")
	require.NoError(t, err)
	require.Contains(t, string(unit), "ExecStart=/usr/bin/rewind-worker --config /etc/rewind/rewind.yaml")

	groups, err := exec.Command("id", "-nG", "rewind").Output()
	require.NoError(t, err, "the package made the rewind user")
	if exec.Command("getent", "group", "docker").Run() == nil {
		require.Contains(t, strings.Fields(string(groups)), "docker", "rewind reaches the Docker socket through its group")
	}
	conf, err := os.Stat("/etc/rewind/rewind.yaml")
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), conf.Mode().Perm(), "the config may hold names and paths: not world-readable")
	require.Error(t, exec.Command("pgrep", "-x", "rewind-worker").Run(), "nothing runs until configured")

	dpkg("--remove", "rewind")
	for _, f := range []string{"/usr/bin/rewind", "/usr/bin/rewind-worker", "/lib/systemd/system/rewind-worker.service", "/usr/share/doc/rewind/README.md"} {
		require.NoFileExists(t, f)
	}
	require.FileExists(t, "/etc/rewind/rewind.yaml", "a removed package keeps its edited configuration")
	dpkg("--purge", "rewind")
	require.NoDirExists(t, "/etc/rewind")
	require.Error(t, exec.Command("dpkg", "-s", "rewind").Run(), "dpkg knows rewind no more")
}

// requireDoctorReachesTemporal runs the installed `rewind doctor` on the packaged
// configuration against the embedded Temporal: it finds Temporal, its namespace and
// Rewind's search attributes, says no worker polls (the package starts none), and exits 1.
func requireDoctorReachesTemporal(t *testing.T) {
	t.Helper()
	srv, _ := startTemporal(t)
	cmd := exec.Command("/usr/bin/rewind", "doctor", "--config", "/etc/rewind/rewind.yaml", "--json")
	cmd.Env = append(os.Environ(), "REWIND_TEMPORAL_ADDRESS="+srv.GRPCAddr(), "SSH_AUTH_SOCK=")
	out, err := cmd.Output()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "doctor exits 1 while no worker polls: %s", out)
	require.Equal(t, 1, exit.ExitCode(), "%s%s", out, exit.Stderr)
	var up struct {
		Checks []struct{ Name, Status, Detail string }
	}
	require.NoError(t, json.Unmarshal(out, &up), "%s", out)
	status := map[string]string{}
	for _, c := range up.Checks {
		status[c.Name] = c.Status
	}
	for _, ok := range []string{"config", "temporal", "namespace", "search attributes"} {
		require.Equal(t, "ok", status[ok], "%s: %s", ok, out)
	}
	require.Equal(t, "fail", status["worker rewind"], "no worker polls what the package configures: %s", out)
}
