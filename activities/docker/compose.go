package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
)

// DetectCompose finds the operator's compose CLI: `docker compose` (v2), then
// `docker-compose` (v1). Both label what they create the same way.
func DetectCompose(ctx context.Context) ([]string, error) {
	for _, cmd := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		args := append(append([]string{}, cmd[1:]...), "version")
		if err := exec.CommandContext(ctx, cmd[0], args...).Run(); err == nil {
			return cmd, nil
		}
	}
	return nil, fmt.Errorf("find a compose CLI: neither `docker compose` nor `docker-compose` runs here; install one or set compose.command in rewind.yaml")
}

// ComposeUpInput says how to bring a project up with the operator's compose CLI.
type ComposeUpInput struct {
	Project    string
	Files      []string
	WorkingDir string
	// Command is the compose CLI; empty detects it.
	Command []string
	// Env adds variables to the compose CLI's environment (image tags, ports).
	Env []string
	// Stopped, for StartProject only, are the containers the run's stop stopped: the
	// only ones it starts.
	Stopped []string `json:",omitempty"`
}

// ComposeUpResult is what compose printed.
type ComposeUpResult struct {
	Command []string
	Output  string
}

// ComposeUp runs `compose -p PROJECT -f FILE... up -d`; compose itself makes this idempotent.
func (a *Activities) ComposeUp(ctx context.Context, in ComposeUpInput) (ComposeUpResult, error) {
	if in.Project == "" || len(in.Files) == 0 {
		return ComposeUpResult{}, temporal.NewNonRetryableApplicationError("compose up needs a project and at least one compose file", failure.BadInput, nil)
	}
	command := in.Command
	if len(command) == 0 {
		var err error
		if command, err = DetectCompose(ctx); err != nil {
			return ComposeUpResult{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, err)
		}
	}
	args := append([]string{}, command[1:]...)
	args = append(args, "-p", in.Project)
	for _, f := range in.Files {
		args = append(args, "-f", f)
	}
	args = append(args, "up", "-d")
	cmd := exec.CommandContext(ctx, command[0], args...)
	cmd.Dir = in.WorkingDir
	cmd.Env = append(os.Environ(), in.Env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return ComposeUpResult{}, fmt.Errorf("run %s: %w", strings.Join(command, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			res := ComposeUpResult{Command: append(command, args[len(command)-1:]...), Output: tail(out.String(), 4000)}
			if err != nil {
				return res, fmt.Errorf("%s up for project %s: %w\n%s", strings.Join(command, " "), in.Project, err, res.Output)
			}
			return res, nil
		case <-tick.C:
			heartbeat.Beat(ctx, "compose up running")
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
