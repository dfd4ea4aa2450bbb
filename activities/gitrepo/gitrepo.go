// Package gitrepo holds the activities that move the stack's checkout between versions
// with the git CLI, as the runbook's Options 1 and 3 do: stash local changes, check out a
// tag or commit, reset. Reading a checkout (running git, pinning a version) is package
// gitref.
package gitrepo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/gitref"
)

// Activities run git in the stack's working directory on the Docker host.
type Activities struct{}

// ResolveInput names a version: a tag, a commit, HEAD~1, or "previous-tag" (the newest
// tag before the one checked out).
type ResolveInput struct {
	Dir string
	Ref string
}

// Resolved is a version pinned to its commit; the workflows name it by this name.
type Resolved = gitref.Resolved

// Resolve pins a version to a commit before anything moves (gitref.Resolve).
func (a *Activities) Resolve(ctx context.Context, in ResolveInput) (Resolved, error) {
	return gitref.Resolve(ctx, in.Dir, in.Ref)
}

// CheckMoveInput names a checkout, the commit it would move to, and the folders the move
// must leave alone (absolute paths: the stack's bind mounts, its backups, Rewind's state).
type CheckMoveInput struct {
	Dir       string
	Commit    string
	Protected []string
}

// Move is what a checkout would change.
type Move struct {
	Changed int
	// Protected are the protected folders inside the checkout, relative to it: stashes
	// leave them alone.
	Protected []string `json:",omitempty"`
}

// CheckMove refuses, before anything changes, a checkout that would change or remove a
// file in a protected folder, or overwrite a file git does not track; it names them.
func (a *Activities) CheckMove(ctx context.Context, in CheckMoveInput) (Move, error) {
	root, err := gitref.Git(ctx, in.Dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return Move{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s is not a git checkout: %v", in.Dir, err), failure.BadRef, err)
	}
	var m Move
	for _, p := range in.Protected {
		if rel, ok := inside(root, p); ok {
			m.Protected = append(m.Protected, rel)
		}
	}
	diff, err := gitref.Git(ctx, in.Dir, "diff", "--name-status", "--no-renames", "-z", "HEAD", in.Commit)
	if err != nil {
		return Move{}, err
	}
	fields := strings.Split(strings.TrimRight(diff, "\x00"), "\x00")
	var blocked []string
	for i := 0; i+1 < len(fields); i += 2 {
		status, file := fields[i], fields[i+1]
		m.Changed++
		for _, p := range m.Protected {
			if file == p || strings.HasPrefix(file, p+"/") {
				blocked = append(blocked, fmt.Sprintf("%s %s (in %s/, which the stack or Rewind keeps data in)", verbOf(status), file, p))
			}
		}
		if status == "A" {
			if _, err := os.Lstat(filepath.Join(root, file)); err == nil {
				if _, err := gitref.Git(ctx, in.Dir, "ls-files", "--error-unmatch", "--", file); err != nil {
					blocked = append(blocked, fmt.Sprintf("overwrite %s, which git does not track", file))
				}
			}
		}
	}
	if len(blocked) > 0 {
		return m, temporal.NewNonRetryableApplicationError(fmt.Sprintf("checking out %.12s would %s; nothing was changed: move those files or pick another version", in.Commit, strings.Join(blocked, ", ")), failure.BlockedCheckout, nil)
	}
	return m, nil
}

func verbOf(status string) string {
	if status == "D" {
		return "remove"
	}
	return "change"
}

// inside returns p relative to root when it lies inside it.
func inside(root, p string) (string, bool) {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// StashInput names the checkout, the label the stash gets, and the folders (relative to
// the checkout) it must not take anything from.
type StashInput struct {
	Dir     string
	Label   string
	Exclude []string `json:",omitempty"`
}

// Stash is what was put aside, kept for the people who made those changes.
type Stash struct {
	Stashed bool
	Commit  string
	Label   string
	Files   []string
}

// StashChanges stashes local edits of tracked files (the runbook's `git stash`), leaving
// untracked files where they are (backups, data, notes people keep beside the stack) and
// the excluded folders alone. A retry finds its own stash by label instead of stashing again.
func (a *Activities) StashChanges(ctx context.Context, in StashInput) (Stash, error) {
	list, err := gitref.Git(ctx, in.Dir, "stash", "list", "--format=%H %s")
	if err != nil {
		return Stash{}, err
	}
	for _, line := range strings.Split(list, "\n") {
		if hash, subject, ok := strings.Cut(line, " "); ok && strings.HasSuffix(subject, in.Label) {
			return Stash{Stashed: true, Commit: hash, Label: in.Label}, nil
		}
	}
	spec := []string{"--", "."}
	for _, x := range in.Exclude {
		spec = append(spec, ":(exclude)"+x)
	}
	changed, err := gitref.Git(ctx, in.Dir, append([]string{"diff", "HEAD", "--name-only"}, spec...)...)
	if err != nil {
		return Stash{}, err
	}
	if changed == "" {
		return Stash{Label: in.Label}, nil
	}
	files := strings.Split(changed, "\n")
	stash := append([]string{"stash", "push", "-m", in.Label}, spec...)
	if email, _ := gitref.Git(ctx, in.Dir, "config", "user.email"); email == "" {
		// A stash is a commit: on a host where git has no identity, Rewind signs it.
		stash = append([]string{"-c", "user.name=Rewind", "-c", "user.email=rewind@localhost"}, stash...)
	}
	if _, err := gitref.Git(ctx, in.Dir, stash...); err != nil {
		return Stash{}, err
	}
	hash, err := gitref.Git(ctx, in.Dir, "rev-parse", "stash@{0}")
	if err != nil {
		return Stash{}, err
	}
	return Stash{Stashed: true, Commit: hash, Label: in.Label, Files: files}, nil
}

// CheckoutInput moves the checkout to a pinned commit; Reset moves the branch too
// (`git reset --keep`), otherwise HEAD is detached at the commit (`git checkout --detach`).
// Neither discards a local change: edits are stashed before, and git refuses to move
// over the ones left (in protected folders) rather than lose them.
type CheckoutInput struct {
	Dir    string
	Commit string
	Reset  bool
}

// Checkout moves the working tree to the commit; being there already is success.
func (a *Activities) Checkout(ctx context.Context, in CheckoutInput) (Resolved, error) {
	head, err := gitref.Git(ctx, in.Dir, "rev-parse", "HEAD")
	if err != nil {
		return Resolved{}, err
	}
	if head != in.Commit {
		args := []string{"checkout", "--detach", in.Commit}
		if in.Reset {
			args = []string{"reset", "--keep", in.Commit}
		}
		if _, err := gitref.Git(ctx, in.Dir, args...); err != nil {
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
	if _, err := gitref.Git(ctx, in.Dir, "diff", "--quiet", in.Commit, "--"); err == nil {
		return Stash{Stashed: true, Commit: in.Commit}, nil
	}
	if _, err := gitref.Git(ctx, in.Dir, "stash", "apply", in.Commit); err != nil {
		return Stash{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("apply stash %s in %s: %v; the changes are safe in the stash: `git stash apply %s`", in.Commit, in.Dir, err, in.Commit), failure.BadRef, err)
	}
	return Stash{Stashed: true, Commit: in.Commit}, nil
}
