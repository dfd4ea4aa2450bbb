// Package gitref reads a stack's git checkout with the git CLI: it runs git in a folder and
// pins a version (a tag, a commit, HEAD~1 or the tag before the deployed one) to its
// commit. It registers nothing: the git activities and `rewind plan` both use it.
package gitref

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
)

// Git runs git in dir and returns what it printed, line ends trimmed.
func Git(ctx context.Context, dir string, args ...string) (string, error) {
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

// PreviousTag names the newest tag before the one checked out.
const PreviousTag = "previous-tag"

// Resolved is a version pinned to its commit, so a retried step moves to the same place.
type Resolved struct {
	Ref    string
	Commit string
	Head   string
}

// Resolve pins ref in the checkout dir to a commit before anything moves. A folder that
// is no checkout, or a version it does not have, is a non-retryable BadRef that says so.
func Resolve(ctx context.Context, dir, ref string) (Resolved, error) {
	head, err := Git(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return Resolved{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s is not a git checkout: %v", dir, err), failure.BadRef, err)
	}
	version := ref
	if version == PreviousTag {
		if version, err = Git(ctx, dir, "describe", "--tags", "--abbrev=0", "HEAD^"); err != nil {
			return Resolved{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no tag before HEAD in %s; name one with --to", dir), failure.BadRef, err)
		}
	}
	commit, err := Git(ctx, dir, "rev-parse", "--verify", version+"^{commit}")
	if err != nil {
		tags, _ := Git(ctx, dir, "tag", "-l", "--sort=-v:refname")
		return Resolved{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s has no version %q; its tags: %s", dir, ref, strings.Join(strings.Fields(tags), ", ")), failure.BadRef, err)
	}
	return Resolved{Ref: version, Commit: commit, Head: head}, nil
}
