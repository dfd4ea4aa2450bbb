package drill

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Busy is the error type of a drill step refused because another drill of the stack is
// still open on this host: one full restore per stack at a time.
const Busy = "DrillBusy"

// OpenFunc says whether a workflow run (workflow ID/run ID) is still open.
type OpenFunc func(ctx context.Context, run string) (bool, error)

func (a *Activities) claimsDir() string { return filepath.Join(a.StateDir, "drills", ".claims") }

func (a *Activities) claimPath(project string) string {
	return filepath.Join(a.claimsDir(), url.PathEscape(project))
}

// claim makes the run the one drill of the project on this host. A claim of another run
// stands while that run is open (or, with no way to ask, younger than leftoverAge); a
// closed run's claim and what it left behind are taken over.
func (a *Activities) claim(ctx context.Context, project, run string) error {
	if a.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(a.claimsDir(), 0o700); err != nil {
		return fmt.Errorf("create the drills' claims folder: %w", err)
	}
	p := a.claimPath(project)
	for range 3 {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, werr := f.WriteString(run)
			return errors.Join(werr, f.Close())
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("claim the drill of %s: %w", project, err)
		}
		body, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read the drill claim %s: %w", p, err)
		}
		holder := strings.TrimSpace(string(body))
		if holder == run {
			return nil
		}
		open, err := a.stillOpen(ctx, holder, p)
		if err != nil {
			return err
		}
		if open {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"drill run %s of project %s is still open on this host, and one drill of a stack runs at a time; wait for it to end (or terminate it), then drill again",
				holder, project), Busy, nil)
		}
		if _, err := a.remove(ctx, labelled(RunLabel, holder), everything); err != nil {
			return fmt.Errorf("remove what the closed drill run %s left: %w", holder, err)
		}
		if err := a.forget(holder); err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the closed drill run's claim %s: %w", p, err)
		}
	}
	return fmt.Errorf("claim the drill of %s: %s keeps changing; try again", project, p)
}

// stillOpen asks whether the run holding a claim is open; with no way to ask, a claim
// younger than leftoverAge is held open.
func (a *Activities) stillOpen(ctx context.Context, run, claim string) (bool, error) {
	if a.Open != nil {
		open, err := a.Open(ctx, run)
		if err != nil {
			return false, fmt.Errorf("ask whether drill run %s is still open: %w", run, err)
		}
		return open, nil
	}
	st, err := os.Stat(claim)
	if err != nil {
		return false, fmt.Errorf("read the drill claim %s: %w", claim, err)
	}
	return time.Since(st.ModTime()) < leftoverAge, nil
}

// release gives up the run's claim of the project, if it holds it.
func (a *Activities) release(project, run string) error {
	if a.StateDir == "" || project == "" {
		return nil
	}
	p := a.claimPath(project)
	body, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && strings.TrimSpace(string(body)) != run) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the drill claim %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release the drill claim %s: %w", p, err)
	}
	return nil
}

// Sweep removes what drill runs of the projects left on this host once a.Open says they
// are closed (a terminated drill leaves its throwaway database running), and their
// claims. Only the worker's own projects: another Rewind (another namespace) sharing the
// Docker engine has drills this worker's Temporal does not know. With no a.Open it
// removes nothing.
func Sweep(ctx context.Context, a *Activities, projects []string) (Removed, error) {
	var out Removed
	if a.Open == nil {
		return out, nil
	}
	closed := map[string]bool{}
	var errs []error
	isClosed := func(labels map[string]string, _ time.Time) bool {
		run := labels[RunLabel]
		if run == "" {
			return false
		}
		if c, asked := closed[run]; asked {
			return c
		}
		open, err := a.Open(ctx, run)
		if err != nil {
			errs = append(errs, fmt.Errorf("ask whether drill run %s is still open: %w", run, err))
			return false
		}
		closed[run] = !open
		return !open
	}
	for _, project := range projects {
		gone, err := a.remove(ctx, labelled(ProjectLabel, project), isClosed)
		out.Containers, out.Networks, out.Volumes = append(out.Containers, gone.Containers...), append(out.Networks, gone.Networks...), append(out.Volumes, gone.Volumes...)
		errs = append(errs, err)
	}
	for run, c := range closed {
		if c {
			errs = append(errs, a.forget(run), a.releaseAny(run))
		}
	}
	return out, errors.Join(errs...)
}

// releaseAny gives up every claim the run holds.
func (a *Activities) releaseAny(run string) error {
	if a.StateDir == "" {
		return nil
	}
	files, err := os.ReadDir(a.claimsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the drills' claims: %w", err)
	}
	for _, f := range files {
		project, err := url.PathUnescape(f.Name())
		if err != nil {
			continue
		}
		if err := a.release(project, run); err != nil {
			return err
		}
	}
	return nil
}
