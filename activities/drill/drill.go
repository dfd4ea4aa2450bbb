// Package drill holds the steps of a restore drill: the newest backup restored into a
// volume of the drill's own (through package volume's restore, the one a full rollback
// uses), a throwaway copy of the stack's database container started on it, the stack's
// data check run against that copy, the outcome recorded beside the backup, and all the
// drill made removed again. Nothing of the live stack is written, stopped or mounted.
package drill

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/records"
)

// Activities run on the stack's Docker host.
type Activities struct {
	Engine *client.Client
	// Volume restores backups; a drill's restore is a full rollback's staging restore.
	Volume *volume.Activities
	// StateDir is the worker's state folder, where drill outcomes are kept.
	StateDir string
	// HTTP asks the throwaway database; nil: a client with a 10 s timeout.
	HTTP *http.Client
	// Open says whether a drill run is still open (the worker asks Temporal); nil: a
	// drill's claim on its stack stands for leftoverAge.
	Open OpenFunc
}

// Labels on everything a drill makes, so its removal (and a sweep after a crash) finds it.
const (
	// RunLabel names the drill run (workflow ID/run ID) a volume, network or container
	// belongs to.
	RunLabel = "io.rewind.drill"
	// ProjectLabel names the compose project the drill copied its database from.
	ProjectLabel = "io.rewind.drill.project"
	// PortLabel is the port the throwaway database serves on inside its network.
	PortLabel = "io.rewind.drill.port"
)

// Failed is the error type of a drill that condemns its backup: the database it restored
// does not serve the stack's data.
const Failed = "DrillFailed"

// Unreadable is the error type of drill records that could not be read.
const Unreadable = "DrillsUnreadable"

// Inconclusive is the error type of a check that got no answer at all: the host's
// trouble, no verdict on the backup.
const Inconclusive = "DrillInconclusive"

// Name is what a drill run calls what it makes: rewind-drill-<run>, and for a volume
// rewind-drill-<run>-<volume>, run being the first 8 characters of the run ID.
func Name(runID string, volume ...string) string {
	run := strings.ReplaceAll(runID, "-", "")
	run = run[:min(8, len(run))]
	return strings.Join(append([]string{"rewind-drill-" + run}, volume...), "-")
}

// RestoreInput restores one backup on this host into a drill volume.
type RestoreInput struct {
	// Staging is the drill's volume (Name(run, For)); For the stack's volume it stands for.
	Staging string
	For     string
	Project string
	// Run is the drill run (workflow ID/run ID).
	Run string
	// Name is the backup's name in its store; Backup is where it is on this host.
	Name            string
	Backup          string
	Layout          archive.LayoutName
	SHA256          string
	RequireChecksum bool
}

// RestoreForDrill creates the drill's volume and restores the backup into it, as a full
// rollback restores into its staging volume: hashed, every entry checked, resumable. What
// it restored, or that the backup does not restore, is kept on this host for RecordDrill.
func (a *Activities) RestoreForDrill(ctx context.Context, in RestoreInput) (volume.RestoreResult, error) {
	if in.Staging == "" || in.Run == "" || in.Backup == "" || in.Name == "" {
		return volume.RestoreResult{}, temporal.NewNonRetryableApplicationError("a drill's restore needs a volume, a run, a backup and its name", failure.BadInput, nil)
	}
	if base := path.Base(in.Name); !strings.HasSuffix(filepath.Base(in.Backup), base) {
		return volume.RestoreResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s is not a copy of backup %s; name the backup the file is", in.Backup, in.Name), failure.BadInput, nil)
	}
	if err := a.claim(ctx, in.Project, in.Run); err != nil {
		return volume.RestoreResult{}, err
	}
	if a.underDownloads(in.Backup) {
		// Noted first, so the drill's removal takes the download whatever the restore does.
		if err := a.observe(in.Run, func(o *observed) {
			if !slices.Contains(o.Downloads, in.Backup) {
				o.Downloads = append(o.Downloads, in.Backup)
			}
		}); err != nil {
			return volume.RestoreResult{}, err
		}
	}
	labels := map[string]string{RunLabel: in.Run, ProjectLabel: in.Project, volume.VolumeLabel: in.For}
	if _, err := a.Volume.CreateVolume(ctx, volume.VolumeInfo{Name: in.Staging, Labels: labels}); err != nil {
		return volume.RestoreResult{}, err
	}
	res, err := a.Volume.RestoreVolume(ctx, volume.RestoreInput{Volume: in.Staging, Backup: in.Backup, Layout: in.Layout, SHA256: in.SHA256, RequireChecksum: in.RequireChecksum})
	switch {
	case err == nil:
		err = a.observe(in.Run, func(o *observed) {
			if o.Restored == nil {
				o.Restored = map[string]string{}
			}
			o.Restored[in.Name] = cmp.Or(res.SHA256, in.SHA256)
		})
	case failure.CondemnsBackup(err):
		if oerr := a.observe(in.Run, func(o *observed) {
			if o.Broken == nil {
				o.Broken = map[string]broken{}
			}
			o.Broken[in.Name] = broken{SHA256: in.SHA256, Why: message(err)}
		}); oerr != nil {
			return res, errors.Join(err, oerr)
		}
	}
	return res, err
}

// RecordInput names one backup of the stack whose drill outcome is to be kept. Only Name,
// By and Seconds are read: the verdict is what this host saw of the run (By).
type RecordInput struct {
	Stack string
	Drill backups.Drill
}

// RecordDrill keeps the outcome this host observed for the run beside the backup's other
// verdicts: a failed one makes full rollbacks skip the backup, a passed one proves it.
// An outcome the host did not observe is refused, whatever the input says.
func (a *Activities) RecordDrill(ctx context.Context, in RecordInput) error {
	if a.StateDir == "" {
		return temporal.NewNonRetryableApplicationError("this worker has no worker.state_dir to keep drill outcomes in; set one", failure.BadInput, nil)
	}
	name, run := in.Drill.Name, in.Drill.By
	o, found, err := records.Read[observed](a.runsDir(), run)
	if err != nil {
		return fmt.Errorf("read what this host saw of drill %s: %w", run, err)
	}
	rec := backups.Drill{Name: name, At: cmp.Or(in.Drill.At, time.Now().UTC()), Seconds: in.Drill.Seconds, By: run}
	if b, ok := o.Broken[name]; found && ok {
		rec.Detail, rec.SHA256 = name+" does not restore: "+b.Why, b.SHA256
	} else if sha, restored := o.Restored[name]; found && restored && o.Checked != nil {
		rec.OK, rec.Detail, rec.SHA256 = o.Checked.OK, o.Checked.Detail, sha
	} else {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"this host saw no outcome of drill run %q for backup %s (restored and checked, or not restoring); nothing was recorded", run, name), failure.BadInput, nil)
	}
	return (backups.Drills{Dir: backups.DrillsDir(a.StateDir)}).Record(in.Stack, rec)
}

// StackInput names a stack.
type StackInput struct {
	Stack string
}

// Drills returns the latest drill of each of the stack's backups this host ran, by name.
func (a *Activities) Drills(ctx context.Context, in StackInput) (map[string]backups.Drill, error) {
	if a.StateDir == "" {
		return map[string]backups.Drill{}, nil
	}
	all, err := (backups.Drills{Dir: backups.DrillsDir(a.StateDir)}).Load(in.Stack)
	if err != nil {
		// Reading again finds the same files: the caller goes on without them at once.
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), Unreadable, err)
	}
	return all, nil
}

// CleanupInput names a drill run, and the project whose older drills' leftovers go too.
type CleanupInput struct {
	Run     string
	Project string `json:",omitempty"`
}

// leftoverAge is how old what another drill run made must be before a drill removes it:
// older than any drill runs (its steps' limits add up to less), so its run was
// terminated or its removal failed.
const leftoverAge = 24 * time.Hour

// Removed names what a drill's removal took away.
type Removed struct {
	Containers []string `json:",omitempty"`
	Networks   []string `json:",omitempty"`
	Volumes    []string `json:",omitempty"`
}

// RemoveDrill removes the throwaway database, its network and the drill's volumes (with
// any helper still attached): everything labelled as this run's, and what drills of the
// project left more than leftoverAge ago. What is gone is done.
func (a *Activities) RemoveDrill(ctx context.Context, in CleanupInput) (Removed, error) {
	if in.Run == "" {
		return Removed{}, temporal.NewNonRetryableApplicationError("name the drill run to remove", failure.BadInput, nil)
	}
	out, err := a.remove(ctx, labelled(RunLabel, in.Run), everything)
	if err == nil {
		err = a.forget(in.Run)
	}
	if err == nil {
		err = a.release(in.Project, in.Run)
	}
	if err != nil || in.Project == "" {
		return out, err
	}
	old, err := a.remove(ctx, labelled(ProjectLabel, in.Project), func(labels map[string]string, created time.Time) bool {
		return labels[RunLabel] != "" && labels[RunLabel] != in.Run && !created.IsZero() && time.Since(created) > leftoverAge
	})
	out.Containers, out.Networks, out.Volumes = append(out.Containers, old.Containers...), append(out.Networks, old.Networks...), append(out.Volumes, old.Volumes...)
	return out, err
}

// forget removes what the run downloaded into the host's download folder (a full copy of
// each backup it drilled from an S3 store) and what the host saw of it. RecordDrill has
// run by then: removal is the drill's last step.
func (a *Activities) forget(run string) error {
	if a.StateDir == "" {
		return nil
	}
	o, _, err := records.Read[observed](a.runsDir(), run)
	if err != nil {
		return fmt.Errorf("read what this host saw of drill %s: %w", run, err)
	}
	for _, p := range o.Downloads {
		if !a.underDownloads(p) {
			continue
		}
		for _, f := range []string{p, p + ".part"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove the drill's download %s: %w", f, err)
			}
		}
	}
	if err := records.Remove(a.runsDir(), run); err != nil {
		return fmt.Errorf("forget drill %s: %w", run, err)
	}
	return nil
}

func labelled(key, value string) client.Filters {
	return make(client.Filters).Add("label", key+"="+value)
}

func everything(map[string]string, time.Time) bool { return true }

// remove removes the containers, networks and volumes the filters match and take says
// are the drill's to remove (by their labels and when they were made).
func (a *Activities) remove(ctx context.Context, mine client.Filters, take func(labels map[string]string, created time.Time) bool) (Removed, error) {
	var out Removed
	cs, err := a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: mine})
	if err != nil {
		return out, fmt.Errorf("list the drill's containers: %w", err)
	}
	for _, c := range cs.Items {
		if !take(c.Labels, time.Unix(c.Created, 0)) {
			continue
		}
		if err := a.removeContainer(ctx, c.ID); err != nil {
			return out, err
		}
		out.Containers = append(out.Containers, engine.ContainerName(c))
	}
	ns, err := a.Engine.NetworkList(ctx, client.NetworkListOptions{Filters: mine})
	if err != nil {
		return out, fmt.Errorf("list the drill's networks: %w", err)
	}
	for _, n := range ns.Items {
		if !take(n.Labels, n.Created) {
			continue
		}
		if _, err := a.Engine.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !engine.Gone(err) {
			return out, fmt.Errorf("remove the drill's network %s: %w", n.Name, err)
		}
		out.Networks = append(out.Networks, n.Name)
	}
	vs, err := a.Engine.VolumeList(ctx, client.VolumeListOptions{Filters: mine})
	if err != nil {
		return out, fmt.Errorf("list the drill's volumes: %w", err)
	}
	for _, v := range vs.Items {
		created, _ := time.Parse(time.RFC3339, v.CreatedAt)
		if !take(v.Labels, created) {
			continue
		}
		// A restore's helper may still hold it when the drill was cancelled mid-restore.
		users, err := a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("volume", v.Name)})
		if err != nil {
			return out, fmt.Errorf("list containers using the drill's volume %s: %w", v.Name, err)
		}
		for _, c := range users.Items {
			if err := a.removeContainer(ctx, c.ID); err != nil {
				return out, err
			}
		}
		if _, err := a.Engine.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{}); err != nil && !engine.Gone(err) {
			return out, fmt.Errorf("remove the drill's volume %s: %w", v.Name, err)
		}
		out.Volumes = append(out.Volumes, v.Name)
	}
	return out, nil
}

func (a *Activities) removeContainer(ctx context.Context, id string) error {
	err := engine.Retry(ctx, func() error {
		_, err := a.Engine.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
		return err
	})
	if err != nil && !engine.Gone(err) {
		return fmt.Errorf("remove the drill's container %s: %w", id[:min(12, len(id))], err)
	}
	return nil
}

func (a *Activities) http() *http.Client {
	return cmp.Or(a.HTTP, &http.Client{Timeout: 10 * time.Second})
}

// message is an error's own message, without Temporal's wrapping.
func message(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// condemned is a drill failure that says the backup does not serve its data.
func condemned(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), Failed, nil)
}

// IsFailed reports whether err condemns the drilled backup.
func IsFailed(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == Failed
}
