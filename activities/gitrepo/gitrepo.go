// Package gitrepo moves the stack's checkout between versions with the git CLI, as the
// runbook's Options 1 and 3 do: stash local changes, check out a tag or commit, reset.
package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// ErrBadRef is the error type of a tag or commit the repository does not have.
const ErrBadRef = "BadRef"

// Activities run git in the stack's working directory on the Docker host.
type Activities struct{}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(errOut.String()))
	}
	// Only line ends are trimmed: porcelain status lines start with a meaningful space.
	return strings.TrimRight(out.String(), "\r\n"), nil
}

// ResolveInput names a version: a tag, a commit, HEAD~1, or "previous-tag" (the newest
// tag before the one checked out).
type ResolveInput struct {
	Dir string
	Ref string
}

// Resolved is a version pinned to its commit, so a retried step moves to the same place.
type Resolved struct {
	Ref    string
	Commit string
	Head   string
}

// Resolve pins a version to a commit before anything moves.
func (a *Activities) Resolve(ctx context.Context, in ResolveInput) (Resolved, error) {
	head, err := git(ctx, in.Dir, "rev-parse", "HEAD")
	if err != nil {
		return Resolved{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s is not a git checkout: %v", in.Dir, err), ErrBadRef, err)
	}
	ref := in.Ref
	if ref == "previous-tag" {
		if ref, err = git(ctx, in.Dir, "describe", "--tags", "--abbrev=0", "HEAD^"); err != nil {
			return Resolved{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no tag before HEAD in %s; name one with --to", in.Dir), ErrBadRef, err)
		}
	}
	commit, err := git(ctx, in.Dir, "rev-parse", "--verify", ref+"^{commit}")
	if err != nil {
		tags, _ := git(ctx, in.Dir, "tag", "-l", "--sort=-v:refname")
		return Resolved{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s has no version %q; its tags: %s", in.Dir, in.Ref, strings.Join(strings.Fields(tags), ", ")), ErrBadRef, err)
	}
	return Resolved{Ref: ref, Commit: commit, Head: head}, nil
}

// StashInput names the checkout and the label the stash gets.
type StashInput struct {
	Dir   string
	Label string
}

// Stash is what was put aside, kept for the people who made those changes.
type Stash struct {
	Stashed bool
	Commit  string
	Label   string
	Files   []string
}

// StashChanges stashes local changes, untracked files included (the runbook's `git stash`).
// A retry finds its own stash by label instead of stashing again.
func (a *Activities) StashChanges(ctx context.Context, in StashInput) (Stash, error) {
	list, err := git(ctx, in.Dir, "stash", "list", "--format=%H %s")
	if err != nil {
		return Stash{}, err
	}
	for _, line := range strings.Split(list, "\n") {
		if hash, subject, ok := strings.Cut(line, " "); ok && strings.HasSuffix(subject, in.Label) {
			return Stash{Stashed: true, Commit: hash, Label: in.Label}, nil
		}
	}
	status, err := git(ctx, in.Dir, "status", "--porcelain", "--untracked-files=all")
	if err != nil {
		return Stash{}, err
	}
	if status == "" {
		return Stash{Label: in.Label}, nil
	}
	var files []string
	for _, l := range strings.Split(status, "\n") {
		if len(l) > 3 {
			files = append(files, l[3:])
		}
	}
	stash := []string{"stash", "push", "--include-untracked", "-m", in.Label}
	if email, _ := git(ctx, in.Dir, "config", "user.email"); email == "" {
		// A stash is a commit: on a host where git has no identity, Rewind signs it.
		stash = append([]string{"-c", "user.name=Rewind", "-c", "user.email=rewind@localhost"}, stash...)
	}
	if _, err := git(ctx, in.Dir, stash...); err != nil {
		return Stash{}, err
	}
	hash, err := git(ctx, in.Dir, "rev-parse", "stash@{0}")
	if err != nil {
		return Stash{}, err
	}
	return Stash{Stashed: true, Commit: hash, Label: in.Label, Files: files}, nil
}

// CheckoutInput moves the checkout to a pinned commit; Reset moves the branch too
// (`git reset --hard`), otherwise HEAD is detached at the commit (`git checkout -f`).
type CheckoutInput struct {
	Dir    string
	Commit string
	Reset  bool
}

// Checkout moves the working tree to the commit; being there already is success.
func (a *Activities) Checkout(ctx context.Context, in CheckoutInput) (Resolved, error) {
	head, err := git(ctx, in.Dir, "rev-parse", "HEAD")
	if err != nil {
		return Resolved{}, err
	}
	if head != in.Commit {
		args := []string{"checkout", "-f", "--detach", in.Commit}
		if in.Reset {
			args = []string{"reset", "--hard", in.Commit}
		}
		if _, err := git(ctx, in.Dir, args...); err != nil {
			return Resolved{}, err
		}
	}
	return Resolved{Commit: in.Commit, Head: head}, nil
}

// ApplyInput names a stash Rewind made, to apply again.
type ApplyInput struct {
	Dir    string
	Commit string
}

// ApplyStash puts stashed local changes back into the checkout (a failed rollback puts
// the stack back as it was). Changes already back count as done, so a retry is safe.
func (a *Activities) ApplyStash(ctx context.Context, in ApplyInput) (Stash, error) {
	if _, err := git(ctx, in.Dir, "diff", "--quiet", in.Commit, "--"); err == nil {
		return Stash{Stashed: true, Commit: in.Commit}, nil
	}
	if _, err := git(ctx, in.Dir, "stash", "apply", in.Commit); err != nil {
		return Stash{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("apply stash %s in %s: %v; the changes are safe in the stash: `git stash apply %s`", in.Commit, in.Dir, err, in.Commit), ErrBadRef, err)
	}
	return Stash{Stashed: true, Commit: in.Commit}, nil
}
