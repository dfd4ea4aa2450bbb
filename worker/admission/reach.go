package admission

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

// Reach is what one run may touch of one stack: what the worker's configuration names
// for it, and the volumes, evidence and checkpoints of the run itself.
type Reach struct {
	Stack      string
	Target     config.Stack
	Compose    []string
	WorkflowID string
	RunID      string
	// Groups are the workflow IDs of the group rollbacks the stack is part of.
	Groups []string
	// Folders are this host's folders a step may read a backup or snapshot from: the
	// stack's backups, the worker's state folder and the evidence folder.
	Folders []string
}

// within says what of a step's input lies outside every reach, or nil. An input type it
// does not know is refused: a new step must say what it touches before it can run.
func within(arg any, reach []Reach) error {
	var errs []error
	for _, r := range reach {
		err := r.check(arg)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r Reach) check(arg any) error {
	t := r.Target
	switch in := arg.(type) {
	case docker.ComposeUpInput:
		return all(r.project(in.Project), r.composeFiles(in.Files), same("working dir", in.WorkingDir, t.WorkingDir),
			r.compose(in.Command), none("environment", in.Env))
	case docker.StopInput:
		return r.project(in.Project)
	case docker.ProjectInput:
		return r.project(in.Project)
	case docker.SampleInput:
		return r.project(in.Project)
	case docker.ResourcesCheck:
		return r.project(in.Project)
	case docker.LogsCheck:
		return r.project(in.Project)
	case docker.CaptureInput:
		return all(r.project(in.Project), r.evidence(in.Prefix), r.services(in.Services), r.urls(in.Probes...))
	case docker.WaitHealthyInput:
		return all(r.project(in.Project), r.services(in.Services), r.urls(in.Probes...))
	case volume.StagingInput:
		// Removing staging volumes (its own, and stale ones of other runs) is the stack's
		// rollback's to do, never a guard's or a verification's.
		return all(same("workflow", r.WorkflowID, "rewind-"+r.Stack), r.project(in.Project), r.run(in.Run), r.volumes(false, in.Names...))
	case volume.VolumeInput:
		return r.volumes(true, in.Volume)
	case volume.VolumeInfo:
		return r.volumes(true, in.Name)
	case volume.RemoveVolumeInput:
		return r.volumes(true, in.Volume)
	case docker.ImageInput:
		return same("image", in.Image, t.Image)
	case volume.SnapshotInput:
		return all(r.volumes(true, in.Volume), r.evidence(in.Name))
	case volume.SwapInput:
		return all(r.project(in.Project), r.run(in.Run), r.volumes(true, in.Volume), r.volumes(false, in.Staging, in.Forensic))
	case volume.RoomInput:
		return all(r.volumes(true, in.Volume), r.volumes(false, in.Staging))
	case volume.CopyInput:
		return all(r.run(in.Run), r.volumes(true, in.From, in.To))
	case volume.RestoreInput:
		return all(r.volumes(true, in.Volume), r.file(in.Backup))
	case volume.PrepareInput:
		return all(r.project(in.Project), r.run(in.Run), r.volumes(false, in.Staging), r.volumes(true, in.For),
			r.file(in.Backup), same("stack", cmp.Or(in.Stack, r.Stack), r.Stack))
	case docker.BuildInput:
		return all(same("build context", in.Context, t.WorkingDir), same("dockerfile", in.Dockerfile, t.Build.Dockerfile), r.buildTag(in.Tag))
	case gitrepo.ResolveInput:
		return same("git checkout", in.Dir, t.WorkingDir)
	case gitrepo.CheckMoveInput:
		return same("git checkout", in.Dir, t.WorkingDir)
	case gitrepo.StashInput:
		return same("git checkout", in.Dir, t.WorkingDir)
	case gitrepo.CheckoutInput:
		return same("git checkout", in.Dir, t.WorkingDir)
	case gitrepo.ApplyInput:
		return same("git checkout", in.Dir, t.WorkingDir)
	case backup.ListInput:
		return all(r.store(in.Location), r.pattern(in.Pattern))
	case backup.VerifyInput:
		return r.store(in.Location)
	case backup.LatestGoodInput:
		return all(r.store(in.Location), r.pattern(in.Pattern))
	case backup.DownloadInput:
		return r.store(in.Location)
	case backup.MarkersInput:
		// It only reads: the guard checks the backups it was told came before the deploy.
		errs := []error{r.store(in.Location)}
		for _, p := range in.Patterns {
			errs = append(errs, r.pattern(p))
		}
		return all(errs...)
	case probe.HTTPCheck:
		return r.urls(in.URL)
	case probe.DatabaseCheck:
		return same("database", in.URL, t.Checks.DatabaseURL)
	case probe.DataCheck:
		return all(same("database", in.URL, t.Checks.DatabaseURL), r.query(in.Query))
	case probe.APISampleInput:
		return all(r.urls(in.HealthURL, in.FunctionalURL), same("database", in.DatabaseURL, t.Checks.DatabaseURL), r.query(in.DataQuery))
	case evidence.NoteInput:
		return r.evidence(in.Name)
	case policy.ExecutionInput:
		// It only reads: the guard asks whether its stack's rollback runs, a stack of a
		// group whether its parent is the group's rollback.
		if slices.Contains(r.Groups, in.WorkflowID) {
			return nil
		}
		return same("workflow", in.WorkflowID, "rewind-"+r.Stack)
	case volume.BackupInput:
		return all(r.backupRun(), r.volumes(true, in.Volume), r.store(in.Location), r.pattern(in.Pattern))
	case volume.PruneInput:
		// Only the stack's backup prunes, by the stack's own policy.
		return all(r.backupRun(), same("stack", in.Stack, r.Stack), r.volumes(true, in.Volume), r.store(in.Location), r.pattern(in.Pattern),
			same("keep policy", in.Keep.String(), t.Backups.Keep.String()))
	case docker.HoldInput:
		return all(r.backupRun(), r.project(in.Project), same("consistency", in.Mode, t.Backups.Consistency),
			r.volumes(true, in.Volumes...), same("stop grace period", in.Grace.String(), t.StopGracePeriod.String()))
	case probe.CheckpointInput:
		return all(r.backupRun(), same("consistency", config.ConsistencyCheckpoint, t.Backups.Consistency), same("database", in.URL, t.CheckpointURL()))
	case notify.Event, notify.Message:
		// Notifications go only where the worker's configuration sends them.
		return nil
	}
	if err, ok := r.drillCheck(arg); ok {
		return err
	}
	return fmt.Errorf("an input of type %T, which this worker does not know what it may touch", arg)
}

// backupRun says the run is the stack's backup: only it holds the database still.
func (r Reach) backupRun() error {
	return same("workflow", r.WorkflowID, api.BackupWorkflowID(r.Stack))
}

func all(errs ...error) error { return errors.Join(errs...) }

func same(what, got, want string) error {
	if got != want {
		return fmt.Errorf("%s %q where the configuration of the stack names %q", what, got, want)
	}
	return nil
}

func none(what string, got []string) error {
	if len(got) > 0 {
		return fmt.Errorf("%s %q, which no configuration sets", what, got)
	}
	return nil
}

func (r Reach) project(p string) error { return same("compose project", p, r.Target.Project) }

func (r Reach) composeFiles(files []string) error {
	if !slices.Equal(files, r.Target.ComposeFiles) {
		return fmt.Errorf("compose files %q where the configuration of stack %s names %q", files, r.Stack, r.Target.ComposeFiles)
	}
	return nil
}

// compose is the compose CLI: the configured command, or none (the worker detects it).
func (r Reach) compose(cmd []string) error {
	if len(cmd) > 0 && !slices.Equal(cmd, r.Compose) {
		return fmt.Errorf("compose command %q where the configuration names %q", cmd, r.Compose)
	}
	return nil
}

func (r Reach) services(services []string) error {
	for _, s := range services {
		if !slices.Contains(r.Target.Services, s) {
			return fmt.Errorf("service %q, which stack %s does not list", s, r.Stack)
		}
	}
	return nil
}

// urls are the stack's configured endpoints; an empty one is no request.
func (r Reach) urls(urls ...string) error {
	c := r.Target.Checks
	known := []string{"", c.HealthURL, c.FunctionalURL, c.DatabaseURL}
	for _, u := range urls {
		if !slices.Contains(known, u) {
			return fmt.Errorf("URL %q, which is none of stack %s's checks", u, r.Stack)
		}
	}
	return nil
}

// query is one of the stack's configured read queries, never one a caller wrote.
func (r Reach) query(q string) error {
	c := r.Target.Checks
	if !slices.Contains([]string{"", c.DataQuery, c.FingerprintQuery}, q) {
		return fmt.Errorf("query %q, which is none of stack %s's checks", q, r.Stack)
	}
	return nil
}

func (r Reach) run(key string) error { return same("run", key, r.WorkflowID+"/"+r.RunID) }

// volumes are the stack's own (when stack is true) or the ones this run makes for them:
// rewind-<kind>-<run>-<volume>, as the full rollback names them.
func (r Reach) volumes(stack bool, names ...string) error {
	run := strings.ReplaceAll(r.RunID, "-", "")
	run = run[:min(8, len(run))]
	for _, name := range names {
		ok := false
		for _, v := range r.Target.Volumes {
			switch {
			case stack && name == v.Name,
				name == "rewind-staging-"+run+"-"+v.Name,
				name == "rewind-forensic-"+run+"-"+v.Name:
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("volume %q, which is neither a volume of stack %s nor one this run made for it", name, r.Stack)
		}
	}
	return nil
}

// evidence is a name in this run's evidence folder: incidents/<day>/<workflow>/<run>/...
func (r Reach) evidence(name string) error {
	parts := strings.Split(path.Clean(name), "/")
	if len(parts) < 5 || parts[0] != "incidents" || parts[2] != r.WorkflowID || parts[3] != r.RunID || path.Clean(name) != name {
		return fmt.Errorf("evidence %q outside this run's folder incidents/<day>/%s/%s", name, r.WorkflowID, r.RunID)
	}
	return nil
}

// file is a backup or snapshot on this host, inside one of the folders it may read.
func (r Reach) file(name string) error {
	clean, err := filepath.Abs(name)
	if err != nil || name == "" {
		return fmt.Errorf("file %q is no path on this host", name)
	}
	for _, dir := range r.Folders {
		if abs, err := filepath.Abs(dir); err == nil && strings.HasPrefix(clean, abs+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("file %q outside the stack's backups, the worker's state folder and the evidence folder", name)
}

func (r Reach) store(l storage.Location) error {
	if l != r.Target.Backups.Location() {
		return fmt.Errorf("backup store %s where the configuration of stack %s names %s", l, r.Stack, r.Target.Backups.Location())
	}
	return nil
}

func (r Reach) pattern(p string) error {
	known := []string{"", r.Target.Backups.Pattern}
	for _, v := range r.Target.Volumes {
		known = append(known, v.Pattern)
	}
	if !slices.Contains(known, p) {
		return fmt.Errorf("backup pattern %q, which stack %s does not name", p, r.Stack)
	}
	return nil
}

func (r Reach) buildTag(tag string) error {
	version, ok := strings.CutPrefix(tag, r.Target.Build.Image+":")
	if !ok || r.Target.Build.Image == "" || version == "" || strings.ContainsAny(version, "/:@") {
		return fmt.Errorf("image tag %q, not %s:<version> as the stack's build names", tag, r.Target.Build.Image)
	}
	return nil
}
