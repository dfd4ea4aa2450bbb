package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
)

// TestREADMEAdoptionStepsRunAsWritten runs the shell blocks of README's "Adopting Rewind",
// command by command and exactly as written, on an operator's server as the README
// supposes it: the AlgoTrendy stack running from docker-compose.yml and
// docker-compose.prod.yml in its folder, last night's backup in backups/ beside them, and
// `rewind` and `rewind-worker` installed. Each command must exit 0, and the first plan
// must name the stack's volume and the backup it would restore into it.
func TestREADMEAdoptionStepsRunAsWritten(t *testing.T) {
	s := needDocker(t)
	steps := readmeSteps(t, "../README.md", "### Adopting Rewind")
	walk := []string{"rewind init", "rewind doctor", "rewind plan full"}
	require.Equal(t, walk, slices.DeleteFunc(commandsOf(steps), func(c string) bool { return !slices.Contains(walk, c) }),
		"the README walks init → doctor → the first plan, in that order:\n%s", strings.Join(steps, "\n"))
	srv, _ := startTemporal(t)

	// The folder names the compose project, as it does for `docker compose` run there.
	project := uniqueName("adopt")
	dir := filepath.Join(t.TempDir(), project)
	adoptionStack(t, s, dir, project)
	backup, err := demostack.Backup(context.Background(), s.engine, project, filepath.Join(dir, "backups"), time.Now().Add(-8*time.Hour))
	require.NoError(t, err)

	// A fresh machine: the installed commands on PATH, no key in an agent or a home, no
	// Rewind or compose settings. The Temporal address stands for the TODO an operator
	// fills in rewind.yaml (REWIND_TEMPORAL_ADDRESS overrides it, as the file says).
	installed := installedCommands(t, s)
	home := t.TempDir()
	environ := append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "REWIND_") || strings.HasPrefix(kv, "COMPOSE_") ||
			strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "SSH_AUTH_SOCK=")
	}), "PATH="+installed+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+home, "REWIND_TEMPORAL_ADDRESS="+srv.GRPCAddr())

	var workerStarted bool
	for _, step := range steps {
		args := strings.Fields(step)
		if commandsOf([]string{step})[0] == "rewind doctor" && !workerStarted {
			// "doctor needs the worker running": as the package's unit runs it, with the
			// configuration doctor checks and its state where the unit puts it.
			config := flagValue(args, "--config")
			require.NotEmpty(t, config, "the README's doctor step names the --config the worker runs with: %s", step)
			w := &env{t: t, s: s, bin: s.bin, config: filepath.Join(dir, config)}
			w.startWorker("REWIND_TEMPORAL_ADDRESS="+srv.GRPCAddr(), "REWIND_WORKER_STATE_DIR="+filepath.Join(dir, "worker-state"),
				"REWIND_EVIDENCE_DIR="+filepath.Join(dir, "evidence"))
			workerStarted = true
		}
		start := time.Now()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", step)
		cmd.Dir, cmd.Env = dir, environ
		out, err := cmd.CombinedOutput()
		t.Logf("$ %s   (%s)\n%s", step, time.Since(start).Round(time.Millisecond), out)
		require.NoError(t, err, "README step %q as written:\n%s", step, out)
		if commandsOf([]string{step})[0] == "rewind plan full" {
			require.Contains(t, string(out), demostack.Volume(project)+": would restore "+filepath.Base(backup), "the first plan names the stack's volume and its backup")
		}
	}
}

// adoptionStack starts the demo stack in dir as an operator's server runs it: the demo's
// compose file as docker-compose.yml, a production override beside it, a .env with this
// test's ports; its market database gets its day of trades. It is removed when the test ends.
func adoptionStack(t *testing.T, s *suite, dir, project string) {
	t.Helper()
	yml, err := os.ReadFile(s.composeYm)
	require.NoError(t, err)
	apiPort, dbPort := freePort(t), freePort(t)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, body := range map[string]string{
		"docker-compose.yml":      string(yml),
		"docker-compose.prod.yml": "services:\n  api:\n    restart: unless-stopped\n  questdb:\n    restart: unless-stopped\n    stop_grace_period: 45s\n",
		".env":                    fmt.Sprintf("API_PORT=%d\nQUESTDB_PORT=%d\n", apiPort, dbPort),
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	c := demostack.Compose{Command: s.compose, Project: project, File: filepath.Join(dir, "docker-compose.yml"), Overrides: []string{filepath.Join(dir, "docker-compose.prod.yml")}}
	ctx := context.Background()
	t.Cleanup(func() { _ = c.Run(context.Background(), "down", "-v", "--remove-orphans", "-t", "0") })
	require.NoError(t, c.Run(ctx, "up", "-d"))
	require.NoError(t, demostack.WaitHealthy(ctx, s.engine, project))
	require.NoError(t, demostack.Seed(ctx, fmt.Sprintf("http://127.0.0.1:%d", dbPort), 500))
}

// installedCommands is a folder holding the suite's binaries by the names the package
// installs them under.
func installedCommands(t *testing.T, s *suite) string {
	t.Helper()
	dir := t.TempDir()
	for from, to := range map[string]string{"rewind": "rewind", "worker": "rewind-worker"} {
		require.NoError(t, os.Symlink(filepath.Join(s.bin, from), filepath.Join(dir, to)))
	}
	return dir
}

// readmeSteps returns the commands of the sh blocks of one section of the README, in
// order: each line a command, continuation lines joined, blank and comment lines left out.
func readmeSteps(t *testing.T, readme, heading string) []string {
	t.Helper()
	f, err := os.Open(readme)
	require.NoError(t, err)
	defer f.Close()
	var steps []string
	var inSection, inBlock bool
	var pending string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !inBlock && line == heading:
			inSection = true
		case !inBlock && inSection && (strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "### ")):
			inSection = false
		case inSection && !inBlock && (line == "```sh" || line == "```bash" || line == "```shell"):
			inBlock = true
		case inBlock && line == "```":
			require.Empty(t, pending, "a command of %q ends its block with a backslash", heading)
			inBlock = false
		case inBlock:
			if cont, ok := strings.CutSuffix(line, `\`); ok {
				pending += cont
				continue
			}
			cmd := strings.TrimSpace(pending + line)
			pending = ""
			if cmd != "" && !strings.HasPrefix(cmd, "#") {
				steps = append(steps, cmd)
			}
		}
	}
	require.NoError(t, sc.Err())
	require.False(t, inBlock, "a block of %q is not closed", heading)
	require.NotEmpty(t, steps, "README has a section %q with sh blocks", heading)
	return steps
}

// commandsOf names each step by its command and subcommand ("rewind plan full" keeps the
// option, as the plan's is what the README promises).
func commandsOf(steps []string) []string {
	var names []string
	for _, s := range steps {
		f := strings.Fields(s)
		n := min(len(f), 2)
		if len(f) > 2 && f[0] == "rewind" && f[1] == "plan" {
			n = 3
		}
		names = append(names, strings.Join(f[:n], " "))
	}
	return names
}

// flagValue is the value of a --name VALUE or --name=VALUE in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
