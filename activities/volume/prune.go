package volume

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/retention"
	"github.com/algotrendy/rewind/storage"
)

// PruneInput names one volume's backups and the stack's keep policy.
type PruneInput struct {
	Stack    string
	Volume   string
	Location storage.Location
	Pattern  string
	Keep     retention.Policy
}

// OpenRollbacks says which rollback of a stack, or of a group that holds it, is open
// ("rewind-prod run R"), "" when none. Retention asks it itself, just before each
// removal: the workflow's answer is the caller's word, and a rollback started after it
// may be restoring the backup next in line.
type OpenRollbacks func(ctx context.Context, stack string) (string, error)

// PruneResult is what retention decided for each of the volume's backups Rewind wrote,
// and what it removed.
type PruneResult struct {
	Volume    string
	Decisions []retention.Decision `json:",omitempty"`
	Removed   []string             `json:",omitempty"`
	// NotOurs are backups without Rewind's marker (made by hand, or by another tool):
	// never counted, never removed.
	NotOurs []string `json:",omitempty"`
	// Held says why removals stopped (a rollback is open, or Temporal could not be
	// asked); the backups not yet removed were kept.
	Held string `json:",omitempty"`
}

// PruneBackups applies the stack's keep policy to the backups Rewind wrote of a volume
// (those whose marker's sha256 is their sidecar's), as retention.Decide says: the newest
// proven backup (its latest drill passed, as this host recorded) always stays, and nothing
// more goes once a rollback of the stack is open: Temporal is asked before each removal.
// Each removed backup goes with its sidecars, archive
// first and marker last, so a removal cut short is finished by the next run.
func (a *Activities) PruneBackups(ctx context.Context, in PruneInput) (PruneResult, error) {
	res := PruneResult{Volume: in.Volume}
	if in.Stack == "" || in.Volume == "" || in.Pattern == "" {
		return res, temporal.NewNonRetryableApplicationError("a prune needs a stack, a volume and its backups pattern; nothing was removed", failure.BadInput, nil)
	}
	if in.Keep.IsZero() {
		return res, nil
	}
	store, err := backups.Open(ctx, in.Location)
	if err != nil {
		return res, err
	}
	remover, ok := store.(storage.Remover)
	if !ok {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the backup store %s cannot remove files; nothing was removed", store.Describe()), failure.StoreConfig, nil)
	}
	drills := map[string]backups.Drill{}
	if a.StateDir != "" {
		// Read before anything is removed: without every drill record retention cannot know
		// which backup is the newest proven, which it must keep.
		if drills, err = (backups.Drills{Dir: backups.DrillsDir(a.StateDir)}).Load(in.Stack); err != nil {
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"%v; retention cannot know the newest proven backup, so it removed nothing: fix or delete the record named (a drill of the backup writes it again)", err), failure.StepFailed, nil)
		}
	}
	if err := finishRemovals(ctx, store, remover, in.Pattern); err != nil {
		return res, err
	}
	listed, err := backups.List(ctx, store, backups.Query{Pattern: in.Pattern, Checksums: true})
	if err != nil {
		return res, err
	}
	var ours []retention.Backup
	for _, l := range listed {
		if _, ok := backups.Ours(ctx, store, l); !ok {
			res.NotOurs = append(res.NotOurs, l.Name)
			continue
		}
		// By the name as listed (a backup in a subfolder too) and its sha256, as drills
		// and rollbacks read them.
		d, drilled := backups.LatestFor(drills, l.Name, l.SHA256)
		ours = append(ours, retention.Backup{Name: l.Name, Taken: backups.Taken(l.Object), Proven: drilled && d.OK})
	}
	res.Decisions = retention.Decide(in.Keep, ours)
	for i, d := range res.Decisions {
		if d.Keep {
			continue
		}
		if res.Held = a.rollbackOpen(ctx, in.Stack); res.Held != "" {
			for j := i; j < len(res.Decisions); j++ {
				if !res.Decisions[j].Keep {
					res.Decisions[j].Keep, res.Decisions[j].Why = true, []string{res.Held}
				}
			}
			break
		}
		if err := removeBackup(ctx, remover, d.Name); err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, d.Name)
	}
	return res, nil
}

// rollbackOpen says why nothing more may be removed now, or "": it asks Temporal whether a
// rollback of the stack (or of a group that holds it) is open; not knowing holds too.
func (a *Activities) rollbackOpen(ctx context.Context, stack string) string {
	if a.Rollbacks == nil {
		return "held: this worker cannot ask Temporal whether a rollback of the stack runs"
	}
	open, err := a.Rollbacks(ctx, stack)
	switch {
	case err != nil:
		return "held: could not ask Temporal whether a rollback of the stack runs: " + err.Error()
	case open != "":
		return "held: a rollback runs (" + open + ") and may restore it"
	}
	return ""
}

// removeBackup removes the archive, then its sidecars, the marker last.
func removeBackup(ctx context.Context, r storage.Remover, name string) error {
	for _, n := range append([]string{name}, backups.Sidecars(name)...) {
		if err := r.Remove(ctx, n); err != nil {
			return fmt.Errorf("remove %s of backup %s: %w", n, name, err)
		}
	}
	return nil
}

// finishRemovals removes what a removal cut short left: the sidecars of a marker whose
// archive is gone. Only files named after one of this pattern's backups are touched.
func finishRemovals(ctx context.Context, store storage.Store, r storage.Remover, pattern string) error {
	all, err := store.List(ctx, "")
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("list %s: %w", store.Describe(), err)
	}
	have := map[string]bool{}
	for _, o := range all {
		have[o.Name] = true
	}
	for _, o := range all {
		stem, ok := strings.CutSuffix(o.Name, ".rewind")
		if !ok {
			continue
		}
		m, err := backups.ReadMarker(ctx, store, stem+".tar.gz")
		if err != nil || path.Dir(m.Name) != "." && path.Dir(m.Name) != path.Dir(o.Name) {
			continue
		}
		name := path.Join(path.Dir(o.Name), path.Base(m.Name))
		if have[name] || !backups.Match(pattern, name) || backups.MarkerName(name) != o.Name {
			continue
		}
		for _, n := range backups.Sidecars(name) {
			if err := r.Remove(ctx, n); err != nil {
				return fmt.Errorf("finish removing backup %s: %w", name, err)
			}
		}
	}
	return nil
}
