package admission

import (
	"strings"
	"testing"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/storage"
)

func prodReach() Reach {
	return Reach{
		Stack: "prod",
		Target: config.Stack{
			Project: "algotrendy", ComposeFiles: []string{"/srv/algotrendy/docker-compose.prod.yml"}, WorkingDir: "/srv/algotrendy",
			Services: []string{"api", "questdb"},
			Volumes:  []config.Volume{{Name: "algotrendy_questdb_data"}},
			Backups:  config.Backups{Dir: "/var/backups/algotrendy", Pattern: "questdb_*.tar.gz"},
			Checks: config.Checks{HealthURL: "http://127.0.0.1:5002/health", DatabaseURL: "postgres://postgres@127.0.0.1:5432/postgres",
				DataQuery: "SELECT COUNT(*) FROM trades", FunctionalURL: "http://127.0.0.1:5002/api/market-data"},
			Image: "algotrendy-api:v2.6",
			Build: config.Build{Dockerfile: "backend/Dockerfile", Image: "algotrendy-api"},
		},
		Compose:    []string{"docker-compose"},
		WorkflowID: "rewind-prod",
		RunID:      "0b6f4c2e-1111-2222-3333-444455556666",
		Folders:    []string{"/var/backups/algotrendy", "/var/lib/rewind", "/var/lib/rewind/evidence"},
		Groups:     []string{"rewind-group-trading"},
	}
}

// Each step input as Rewind's own workflows build it, and forged ones that reach for
// something the configuration does not name.
func TestReachAdmitsOnlyWhatTheConfigurationNames(t *testing.T) {
	r := prodReach()
	t0 := r.Target
	store := t0.Backups.Location()
	run := r.WorkflowID + "/" + r.RunID
	evidenceName := "incidents/20261203/rewind-prod/" + r.RunID + "/checklist"
	tests := []struct {
		name string
		in   any
		want string // "" admits; otherwise part of the refusal
	}{
		{"compose up as the workflow asks", docker.ComposeUpInput{Project: t0.Project, Files: t0.ComposeFiles, WorkingDir: t0.WorkingDir, Command: r.Compose}, ""},
		{"compose up detecting the CLI", docker.ComposeUpInput{Project: t0.Project, Files: t0.ComposeFiles, WorkingDir: t0.WorkingDir}, ""},
		{"compose up with a caller's command", docker.ComposeUpInput{Project: t0.Project, Files: t0.ComposeFiles, WorkingDir: t0.WorkingDir,
			Command: []string{"sh", "-c", `touch /tmp/x; exec docker-compose "$@"`, "sh"}}, "compose command"},
		{"compose up with a caller's file", docker.ComposeUpInput{Project: t0.Project, Files: []string{"/tmp/evil.yml"}, WorkingDir: t0.WorkingDir}, "compose files"},
		{"compose up with LD_PRELOAD", docker.ComposeUpInput{Project: t0.Project, Files: t0.ComposeFiles, WorkingDir: t0.WorkingDir, Env: []string{"LD_PRELOAD=/tmp/x.so"}}, "environment"},
		{"stop another project", docker.StopInput{Project: "billing"}, "compose project"},
		{"stop the stack", docker.StopInput{Project: t0.Project}, ""},
		{"swap into the stack's volume", volume.SwapInput{Volume: "algotrendy_questdb_data", Staging: "rewind-staging-0b6f4c2e-algotrendy_questdb_data",
			Forensic: "rewind-forensic-0b6f4c2e-algotrendy_questdb_data", Project: t0.Project, Run: run}, ""},
		{"swap another run's staging", volume.SwapInput{Volume: "algotrendy_questdb_data", Staging: "rewind-staging-deadbeef-algotrendy_questdb_data",
			Forensic: "rewind-forensic-0b6f4c2e-algotrendy_questdb_data", Project: t0.Project, Run: run}, "volume"},
		{"swap for another run", volume.SwapInput{Volume: "algotrendy_questdb_data", Staging: "rewind-staging-0b6f4c2e-algotrendy_questdb_data",
			Forensic: "rewind-forensic-0b6f4c2e-algotrendy_questdb_data", Project: t0.Project, Run: "rewind-prod/other"}, "run"},
		{"remove a volume of no stack", volume.RemoveVolumeInput{Volume: "billing_pg"}, "volume"},
		{"staging named as a stack volume is not the stack's", volume.StagingInput{Project: t0.Project, Run: run, Names: []string{"algotrendy_questdb_data"}}, "volume"},
		{"restore from the state folder", volume.RestoreInput{Volume: "algotrendy_questdb_data", Backup: "/var/lib/rewind/downloads/questdb_1.tar.gz"}, ""},
		{"restore from /etc", volume.RestoreInput{Volume: "algotrendy_questdb_data", Backup: "/var/lib/rewind/../../../etc/shadow"}, "outside"},
		{"prepare from the backups", volume.PrepareInput{Staging: "rewind-staging-0b6f4c2e-algotrendy_questdb_data", For: "algotrendy_questdb_data",
			Project: t0.Project, Run: run, Backup: "/var/backups/algotrendy/questdb_1.tar.gz", Stack: "prod"}, ""},
		{"snapshot into another run's evidence", volume.SnapshotInput{Volume: "algotrendy_questdb_data", Name: "incidents/20261203/rewind-prod/other/x.tar.gz"}, "evidence"},
		{"capture into this run's evidence", docker.CaptureInput{Project: t0.Project, Prefix: evidenceName}, ""},
		{"note that climbs out", evidence.NoteInput{Name: "incidents/20261203/rewind-prod/" + r.RunID + "/../../../../x"}, "evidence"},
		{"remove the deployed image", docker.ImageInput{Image: "algotrendy-api:v2.6"}, ""},
		{"remove another image", docker.ImageInput{Image: "postgres:15"}, "image"},
		{"build the stack's image", docker.BuildInput{Context: t0.WorkingDir, Dockerfile: t0.Build.Dockerfile, Tag: "algotrendy-api:v2.5"}, ""},
		{"build from another folder", docker.BuildInput{Context: "/", Dockerfile: t0.Build.Dockerfile, Tag: "algotrendy-api:v2.5"}, "build context"},
		{"build over another image", docker.BuildInput{Context: t0.WorkingDir, Dockerfile: t0.Build.Dockerfile, Tag: "postgres:15"}, "image tag"},
		{"check out another repository", gitrepo.CheckoutInput{Dir: "/etc", Commit: "HEAD"}, "git checkout"},
		{"stash the stack's checkout", gitrepo.StashInput{Dir: t0.WorkingDir, Label: "rewind"}, ""},
		{"list the stack's backups", backup.ListInput{Location: store, Pattern: "questdb_*.tar.gz"}, ""},
		{"download from a caller's bucket", backup.DownloadInput{Location: storage.Location{Bucket: "mallory", Endpoint: "http://10.0.0.1"}, Name: "x"}, "backup store"},
		{"probe a caller's URL", probe.HTTPCheck{URL: "http://169.254.169.254/latest/meta-data/"}, "URL"},
		{"the configured data query", probe.DataCheck{URL: t0.Checks.DatabaseURL, Query: t0.Checks.DataQuery}, ""},
		{"a caller's query", probe.DataCheck{URL: t0.Checks.DatabaseURL, Query: "DROP TABLE trades"}, "query"},
		{"wait on the stack's health", docker.WaitHealthyInput{Project: t0.Project, Services: t0.Services, Probes: []string{t0.Checks.HealthURL}}, ""},
		// The guard signs as a local activity: scheduled from anywhere, it would sign starts
		// for anyone who can run a workflow on Rewind's queue.
		{"the guard's signer scheduled as a step", identity.Statement{WorkflowID: "rewind-prod", Person: "rewind-guard"}, "does not know"},
		{"the guard asks after its stack's rollback", policy.ExecutionInput{WorkflowID: "rewind-prod"}, ""},
		{"a stack of a group asks after the group", policy.ExecutionInput{WorkflowID: "rewind-group-trading"}, ""},
		{"asking after another group", policy.ExecutionInput{WorkflowID: "rewind-group-billing"}, "workflow"},
		{"asking after another stack's rollback", policy.ExecutionInput{WorkflowID: "rewind-billing"}, "workflow"},
		{"an input nobody declared", struct{ Cmd string }{"rm -rf /"}, "does not know"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { judged(t, tt.in, within(tt.in, []Reach{r}), tt.want) })
	}
}

func TestIDSchemeReadsTheStackOutOfAWorkflowID(t *testing.T) {
	guard := IDScheme{Prefix: "rewind-", Suffix: "-guard"}
	if got, ok := guard.parse("rewind-prod-guard"); !ok || got != "prod" {
		t.Fatalf("guard scheme read %q, %v", got, ok)
	}
	for _, id := range []string{"rewind-prod", "mallory-prod-guard", "rewind--guard"} {
		if got, ok := guard.parse(id); ok {
			t.Fatalf("guard scheme read %q out of %q", got, id)
		}
	}
}

// A guard or a verification of the stack may look at it, never remove a rollback's
// staging volumes (RemoveStaleStaging removes other runs' too).
func TestOnlyTheStacksRollbackRemovesStaging(t *testing.T) {
	r := prodReach()
	r.WorkflowID = "rewind-prod-verify"
	err := within(volume.StagingInput{Project: r.Target.Project, Run: r.WorkflowID + "/" + r.RunID}, []Reach{r})
	if err == nil || !strings.Contains(err.Error(), "workflow") {
		t.Fatalf("a verification removed staging volumes: %v", err)
	}
}
