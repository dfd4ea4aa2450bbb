package admission

import (
	"strings"
	"testing"
	"time"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/retention"
	"github.com/algotrendy/rewind/storage"
)

// A backup's steps hold the database and write into the backup store: only the stack's
// backup run may ask for them, and only as the configuration says.
func TestOnlyTheStacksBackupHoldsItsDatabaseAsConfigured(t *testing.T) {
	r := prodReach()
	r.WorkflowID = "rewind-prod-backup"
	r.Target.StopGracePeriod = 30 * time.Second
	r.Target.Backups.Consistency = config.ConsistencyPause
	t0 := r.Target
	vols := t0.VolumeNames()
	good := volume.BackupInput{Volume: vols[0], Location: t0.Backups.Location(), Name: "questdb_20261203_141500.tar.gz", Pattern: "questdb_*.tar.gz"}
	r.Target.Backups.Keep = retention.Policy{Last: 7, Daily: 14}
	t0.Backups.Keep = r.Target.Backups.Keep
	prune := volume.PruneInput{Stack: "prod", Volume: vols[0], Location: t0.Backups.Location(), Pattern: "questdb_*.tar.gz", Keep: t0.Backups.Keep}
	pause := docker.HoldInput{Project: t0.Project, Mode: "pause", Volumes: vols, Grace: 30 * time.Second, Containers: []string{"algotrendy_questdb_1"}}
	tests := []struct {
		name     string
		workflow string
		in       any
		want     string
	}{
		{"the backup writes into the stack's store", r.WorkflowID, good, ""},
		{"a rollback takes no backup", "rewind-prod", good, "workflow"},
		{"a backup into a caller's bucket", r.WorkflowID, volume.BackupInput{Volume: vols[0], Location: storage.Location{Bucket: "mallory"}, Name: good.Name, Pattern: good.Pattern}, "backup store"},
		{"a backup of another volume", r.WorkflowID, volume.BackupInput{Volume: "billing_pg", Location: good.Location, Name: good.Name, Pattern: good.Pattern}, "volume"},
		{"a backup under a caller's pattern", r.WorkflowID, volume.BackupInput{Volume: vols[0], Location: good.Location, Name: "x.tar.gz", Pattern: "*"}, "pattern"},
		{"the backup pauses as configured", r.WorkflowID, pause, ""},
		{"the backup stops where pause is configured", r.WorkflowID, docker.HoldInput{Project: t0.Project, Mode: "stop", Volumes: vols, Grace: 30 * time.Second}, "consistency"},
		{"a hold of another project", r.WorkflowID, docker.HoldInput{Project: "billing", Mode: "pause", Volumes: vols, Grace: 30 * time.Second}, "compose project"},
		{"a guard pauses the database", "rewind-prod-guard", pause, "workflow"},
		{"a checkpoint where pause is configured", r.WorkflowID, probe.CheckpointInput{URL: t0.CheckpointURL()}, "consistency"},
		{"the backup prunes by the stack's policy", r.WorkflowID, prune, ""},
		{"a rollback prunes", "rewind-prod", prune, "workflow"},
		{"a prune by a caller's policy", r.WorkflowID, volume.PruneInput{Stack: "prod", Volume: vols[0], Location: good.Location, Pattern: good.Pattern, Keep: retention.Policy{Last: 1}}, "keep policy"},
		{"a prune of a caller's bucket", r.WorkflowID, volume.PruneInput{Stack: "prod", Volume: vols[0], Location: storage.Location{Bucket: "mallory"}, Pattern: good.Pattern, Keep: t0.Backups.Keep}, "backup store"},
		{"a prune under a caller's pattern", r.WorkflowID, volume.PruneInput{Stack: "prod", Volume: vols[0], Location: good.Location, Pattern: "*", Keep: t0.Backups.Keep}, "pattern"},
		{"a prune of another stack's drills", r.WorkflowID, volume.PruneInput{Stack: "billing", Volume: vols[0], Location: good.Location, Pattern: good.Pattern, Keep: t0.Backups.Keep}, "stack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := r
			rr.WorkflowID = tt.workflow
			judged(t, tt.in, within(tt.in, []Reach{rr}), tt.want)
		})
	}

	r.Target.Backups.Consistency = config.ConsistencyCheckpoint
	r.Target.Backups.DatabaseURL = "http://127.0.0.1:9000"
	if err := within(probe.CheckpointInput{URL: "http://127.0.0.1:9000", Release: true}, []Reach{r}); err != nil {
		t.Fatalf("the configured checkpoint was refused: %v", err)
	}
	if err := within(probe.CheckpointInput{URL: "http://169.254.169.254/"}, []Reach{r}); err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("a caller's URL was admitted for a checkpoint: %v", err)
	}
}

// judged fails the test unless err admits in (want "") or refuses it naming want.
func judged(t *testing.T, in any, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && err == nil:
		t.Fatalf("admitted %+v, want a refusal naming %q", in, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("refused with %q, want it to name %q", err, want)
	}
}
