package workflows

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/activities/volume/mover"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

const testRunID = "default-test-run-id"

// person is someone of the test policy, with an SSH key when keyed.
type person struct {
	name, role string
	key        ed25519.PrivateKey
}

func (p person) signer(t *testing.T) ssh.Signer {
	s, err := ssh.NewSignerFromKey(p.key)
	require.NoError(t, err)
	return s
}

func newPerson(t *testing.T, name, role string) person {
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	return person{name: name, role: role, key: key}
}

// rig runs one rollback workflow with the real policy activity on a configuration written
// like an operator's, and every host step mocked: it records the order steps ran in.
type rig struct {
	*testsuite.TestWorkflowEnvironment
	t      *testing.T
	mu     sync.Mutex
	calls  []string
	report VerifyReport
	// fail makes the named step fail with the error.
	fail    map[string]error
	people  map[string]person
	events  []notify.Event
	created []volume.VolumeInfo
	// protected and excluded are what the code rollback asked git to leave alone.
	protected, excluded []string
	// nonces is the store signed starts are claimed in, as the worker's evidence store.
	nonces *storage.Folder
	// pol is the worker's policy activities, as registered: a rig sets what the worker
	// reads at its start (the Slack bridge key).
	pol *policy.Activities
}

type rigOptions struct {
	// volumes of the stack (default one: db_data).
	volumes []string
	// candidates per volume, newest first (default two good ones).
	candidates map[string][]backup.Listed
	// signatures turns policy.require_signatures on.
	signatures bool
	// first registers answers that take precedence over the rig's (mock expectations are
	// matched in the order they were registered).
	first func(r *rig)
	// copy makes swaps copy, as on an engine that cannot rename volume folders.
	copy bool
	// slack gives people a Slack user ID (approvers[].slack), by name.
	slack map[string]string
	// yaml is more configuration, appended to the rig's; policy more of its policy map.
	yaml, policy string
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	if len(o.volumes) == 0 {
		o.volumes = []string{"db_data"}
	}
	r := &rig{t: t, fail: map[string]error{}, people: map[string]person{},
		report: VerifyReport{Passed: true, Checks: []CheckResult{{Name: "data integrity", Passed: true, Evidence: "SELECT COUNT(*) FROM market_data → 500"}}}}
	for _, p := range []person{newPerson(t, "alice", "on-call"), newPerson(t, "bob", "senior"), newPerson(t, "carol", "tech-lead"), newPerson(t, "erin", "senior")} {
		r.people[p.name] = p
	}
	var approvers strings.Builder
	for _, name := range []string{"alice", "bob", "carol", "erin"} {
		p := r.people[name]
		pub, err := ssh.NewPublicKey(p.key.Public())
		require.NoError(t, err)
		keys := ""
		if name == "erin" || o.signatures {
			keys = fmt.Sprintf(", keys: [%q]", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))))
		}
		if id := o.slack[name]; id != "" {
			keys += ", slack: " + id
		}
		fmt.Fprintf(&approvers, "  - {name: %s, role: %s%s}\n", name, p.role, keys)
	}
	var volumes []string
	for i, v := range o.volumes {
		volumes = append(volumes, fmt.Sprintf("{name: %s, pattern: %q}", v, fmt.Sprintf("backup%d_*.tar.gz", i)))
	}
	file := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`
policy: {require_signatures: %t%s}
stacks:
  prod:
    project: algotrendy_v26
    compose_files: [docker-compose.prod.yml]
    working_dir: /srv/algotrendy
    host: docker-1
    image: algotrendy-api:v2.6-prod
    build: {dockerfile: backend/Dockerfile, image: algotrendy-api}
    volumes: [%s]
    backups: {dir: /backups, require_checksum: true}
    checks: {health_url: "http://localhost:5002/health"}
approvers:
%s%s`, o.signatures, o.policy, strings.Join(volumes, ", "), approvers.String(), o.yaml)), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)

	var s testsuite.WorkflowTestSuite
	r.TestWorkflowEnvironment = s.NewTestWorkflowEnvironment()
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.WorkflowID("prod")})
	for _, w := range []any{Full, Quick, Git, Emergency, Verify} {
		r.RegisterWorkflow(w)
	}
	nonces, err := storage.NewFolder(filepath.Join(t.TempDir(), "evidence"))
	require.NoError(t, err)
	r.nonces = nonces
	r.pol = &policy.Activities{Config: cfg, Host: "docker-1", Nonces: nonces}
	r.RegisterActivity(r.pol)
	for _, a := range []any{&docker.Activities{}, &volume.Activities{}, &evidence.Activities{}, &notify.Activities{}, &backup.Activities{}, &probe.Activities{}, &gitrepo.Activities{}, &drill.Activities{}} {
		r.RegisterActivity(a)
	}
	if o.first != nil {
		o.first(r)
	}
	r.mockHost(o)
	return r
}

// step records a host step and answers with its planned failure, if any.
func (r *rig) step(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, name)
	return r.fail[name]
}

func (r *rig) ran(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.calls, name)
}

// index is where name first ran, -1 if it did not.
func (r *rig) index(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Index(r.calls, name)
}

func (r *rig) mockHost(o rigOptions) {
	var d *docker.Activities
	var vol *volume.Activities
	var e *evidence.Activities
	var n *notify.Activities
	var b *backup.Activities
	var g *gitrepo.Activities
	on := func(activity any, answer any) { r.OnActivity(activity, mock.Anything, mock.Anything).Return(answer) }
	on(d.CaptureState, func(context.Context, docker.CaptureInput) (docker.CaptureResult, error) {
		return docker.CaptureResult{Files: []string{"ps.txt"}}, r.step("capture")
	})
	on(e.Note, func(_ context.Context, in evidence.NoteInput) (string, error) {
		return "/evidence/" + in.Name, r.step("note " + filepath.Base(in.Name))
	})
	on(n.Notify, func(_ context.Context, ev notify.Event) (notify.Result, error) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		return notify.Result{Delivered: []string{"worker log"}}, r.step("notify " + string(ev.Kind))
	})
	on(b.ListBackups, func(_ context.Context, in backup.ListInput) ([]backup.Listed, error) {
		if !in.Checksums {
			return []backup.Listed{{Object: objectNamed("backup0_2.tar.gz")}}, r.step("list newest")
		}
		vol := "db_data"
		for i, v := range o.volumes {
			if in.Pattern == fmt.Sprintf("backup%d_*.tar.gz", i) {
				vol = v
			}
		}
		if c, ok := o.candidates[vol]; ok {
			return c, r.step("list " + vol)
		}
		return []backup.Listed{
			{Object: objectNamed(vol + "_2.tar.gz"), SHA256: sha('2'), Sidecar: "x.sha256"},
			{Object: objectNamed(vol + "_1.tar.gz"), SHA256: sha('1'), Sidecar: "x.sha256"},
		}, r.step("list " + vol)
	})
	on(b.DownloadBackup, func(_ context.Context, in backup.DownloadInput) (backup.Downloaded, error) {
		return backup.Downloaded{Path: "/backups/" + in.Name}, r.step("fetch " + in.Name)
	})
	on(vol.RemoveStaleStaging, func(context.Context, volume.StagingInput) (volume.RemoveResult, error) {
		return volume.RemoveResult{}, r.step("remove stale staging")
	})
	on(vol.PrepareVolume, func(_ context.Context, in volume.PrepareInput) (volume.RestoreResult, error) {
		return volume.RestoreResult{Entries: 3, Bytes: 100, SHA256: in.SHA256}, r.step("prepare " + filepath.Base(in.Backup))
	})
	on(vol.CheckRoom, func(_ context.Context, in volume.RoomInput) (volume.RoomResult, error) {
		if o.copy {
			return volume.RoomResult{Method: volume.SwapCopy, Free: 1 << 30}, r.step("room " + in.Volume)
		}
		return volume.RoomResult{Method: volume.SwapRename}, r.step("room " + in.Volume)
	})
	on(vol.RemoveStaging, func(_ context.Context, in volume.StagingInput) (volume.RemoveResult, error) {
		return volume.RemoveResult{Removed: in.Names}, r.step("remove staging")
	})
	on(vol.InspectVolume, func(_ context.Context, in volume.VolumeInput) (volume.VolumeInfo, error) {
		return volume.VolumeInfo{Name: in.Volume, Exists: true, CreatedAt: "2026-11-26T00:00:00Z", Labels: map[string]string{"com.docker.compose.project": "algotrendy_v26"}}, r.step("inspect " + in.Volume)
	})
	on(d.StopProject, func(context.Context, docker.StopInput) (docker.StopResult, error) {
		return docker.StopResult{Stopped: []string{"api", "questdb"}}, r.step("stop")
	})
	on(vol.SnapshotVolume, func(_ context.Context, in volume.SnapshotInput) (volume.SnapshotProof, error) {
		return volume.SnapshotProof{Volume: in.Volume, Location: in.Name, Path: "/evidence/" + in.Name, SHA256: sha('s'), Bytes: 10}, r.step("snapshot " + in.Volume)
	})
	on(vol.RemoveVolume, func(_ context.Context, in volume.RemoveVolumeInput) (volume.RemoveVolumeResult, error) {
		return volume.RemoveVolumeResult{Removed: true}, r.step("remove volume " + in.Volume)
	})
	on(vol.CreateVolume, func(_ context.Context, v volume.VolumeInfo) (volume.VolumeInfo, error) {
		r.mu.Lock()
		r.created = append(r.created, v)
		r.mu.Unlock()
		return v, r.step("create volume " + v.Name)
	})
	on(vol.PlanSwap, func(_ context.Context, in volume.SwapInput) (volume.SwapResult, error) {
		if o.copy {
			return volume.SwapResult{Method: volume.SwapCopy, Why: "volume " + in.Volume + " uses the nfs driver"}, r.step("plan swap " + in.Volume)
		}
		return volume.SwapResult{Method: volume.SwapRename, Inodes: mover.Inodes{Live: 1, Staging: 2}}, r.step("plan swap " + in.Volume)
	})
	on(vol.SwapVolume, func(_ context.Context, in volume.SwapInput) (volume.SwapResult, error) {
		return volume.SwapResult{Method: volume.SwapRename, Inodes: in.Inodes}, r.step("swap " + in.Volume)
	})
	on(vol.UnswapVolume, func(_ context.Context, in volume.SwapInput) (volume.SwapResult, error) {
		return volume.SwapResult{Method: volume.SwapRename, Inodes: in.Inodes}, r.step("unswap " + in.Volume)
	})
	on(vol.CopyVolume, func(_ context.Context, in volume.CopyInput) (volume.RestoreResult, error) {
		return volume.RestoreResult{Entries: 3, Bytes: 100}, r.step("copy into " + in.To)
	})
	on(vol.RestoreVolume, func(_ context.Context, in volume.RestoreInput) (volume.RestoreResult, error) {
		return volume.RestoreResult{Entries: 3}, r.step("restore " + in.Volume + " from " + filepath.Base(in.Backup))
	})
	on(d.ComposeUp, func(context.Context, docker.ComposeUpInput) (docker.ComposeUpResult, error) {
		return docker.ComposeUpResult{Command: []string{"docker-compose", "up", "-d"}}, r.step("compose up")
	})
	on(d.StartProject, func(context.Context, docker.ComposeUpInput) (docker.StartResult, error) {
		if o.copy {
			// The copy-in removed the containers on the volume: compose must create them.
			return docker.StartResult{NeedsCompose: "service questdb has no container"}, r.step("start containers")
		}
		return docker.StartResult{Started: []string{"api", "questdb"}}, r.step("start containers")
	})
	on(d.WaitHealthy, func(context.Context, docker.WaitHealthyInput) (docker.WaitHealthyResult, error) {
		return docker.WaitHealthyResult{Services: map[string]string{"api": "healthy"}}, r.step("wait healthy")
	})
	on(d.RemoveContainers, func(context.Context, docker.ProjectInput) (docker.RemoveResult, error) {
		return docker.RemoveResult{Removed: []string{"api"}}, r.step("remove containers")
	})
	on(d.PruneNetworks, func(context.Context, docker.ProjectInput) (docker.RemoveResult, error) {
		return docker.RemoveResult{Removed: []string{"algotrendy_v26_default"}}, r.step("prune")
	})
	on(d.RemoveImage, func(_ context.Context, in docker.ImageInput) (docker.RemoveResult, error) {
		return docker.RemoveResult{Removed: []string{in.Image}}, r.step("remove image")
	})
	on(d.BuildImage, func(_ context.Context, in docker.BuildInput) (docker.BuildResult, error) {
		return docker.BuildResult{Tag: in.Tag}, r.step("build " + in.Tag)
	})
	on(g.Resolve, func(context.Context, gitrepo.ResolveInput) (gitrepo.Resolved, error) {
		return gitrepo.Resolved{Ref: "v2.5", Commit: "25252525252525252525", Head: "26262626262626262626"}, r.step("resolve")
	})
	on(d.ProjectMounts, func(context.Context, docker.ProjectInput) (docker.Mounts, error) {
		return docker.Mounts{HostPaths: []string{"/srv/algotrendy/data"}}, r.step("mounts")
	})
	on(g.CheckMove, func(_ context.Context, in gitrepo.CheckMoveInput) (gitrepo.Move, error) {
		r.mu.Lock()
		r.protected = in.Protected
		r.mu.Unlock()
		return gitrepo.Move{Changed: 2, Protected: []string{"data"}}, r.step("check move")
	})
	on(g.StashChanges, func(_ context.Context, in gitrepo.StashInput) (gitrepo.Stash, error) {
		r.mu.Lock()
		r.excluded = in.Exclude
		r.mu.Unlock()
		return gitrepo.Stash{Stashed: true, Commit: "abcdefabcdefabcdef", Label: in.Label, Files: []string{"docker-compose.prod.yml"}}, r.step("stash")
	})
	on(g.ApplyStash, func(context.Context, gitrepo.ApplyInput) (gitrepo.Stash, error) {
		return gitrepo.Stash{Stashed: true}, r.step("apply stash")
	})
	on(g.Checkout, func(_ context.Context, in gitrepo.CheckoutInput) (gitrepo.Resolved, error) {
		return gitrepo.Resolved{Commit: in.Commit}, r.step("checkout " + in.Commit[:4])
	})
	r.OnWorkflow(Verify, mock.Anything, mock.Anything).Return(func(workflow.Context, VerifyRequest) (VerifyReport, error) {
		return r.report, r.step("verify")
	})
}

func objectNamed(name string) storage.Object { return storage.Object{Name: name, Size: 100} }

func sha(c byte) string { return strings.Repeat(string(c), 64) }

func request(option, severity, requester string) api.Request {
	return api.Request{Stack: "prod", Option: option, Severity: severity, Reason: "market_data corrupted", Requester: requester}
}

// decide sends a decision as an update after a while; got receives the gate's answer.
func (r *rig) decide(after time.Duration, d api.Decision, got *[]string) {
	r.RegisterDelayedCallback(func() {
		r.UpdateWorkflow(api.DecideUpdate, fmt.Sprint("decision-", after), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { *got = append(*got, "refused: "+err.Error()) },
			OnComplete: func(v any, err error) {
				if err == nil {
					*got = append(*got, "accepted: "+v.(api.DecisionRecord).Reason)
				}
			},
		}, d)
	}, after)
}

// signed is a decision of p signed over a statement with the given fields.
func (r *rig) signed(p person, approve bool, st identity.Statement) api.Decision {
	r.t.Helper()
	st.Person = p.name
	st.Action = identity.ActionApprove
	if !approve {
		st.Action = identity.ActionReject
	}
	if st.Expires.IsZero() {
		st.Expires = time.Now().Add(30 * time.Minute).UTC().Truncate(time.Second)
	}
	sig, err := identity.Sign(p.signer(r.t), st)
	require.NoError(r.t, err)
	return api.Decision{Approver: p.name, Approve: approve, Reason: "checked", Statement: string(st.Text()), Signature: sig}
}

// signedRequest is req signed by its requester, as `rewind start` signs it.
func (r *rig) signedRequest(req api.Request) api.Request {
	r.t.Helper()
	return r.signedAs(req, api.WorkflowID(req.Stack), func(*identity.Statement) {})
}

// signedAs is req signed by its requester for workflowID, with edit applied to the
// statement before signing (a forger's request differs from what was signed).
func (r *rig) signedAs(req api.Request, workflowID string, edit func(*identity.Statement)) api.Request {
	r.t.Helper()
	nonce, err := identity.NewNonce()
	require.NoError(r.t, err)
	st := api.StartStatement(req, workflowID, time.Now().Add(api.MaxStartSignedFor).UTC().Truncate(time.Second), nonce)
	edit(&st)
	sig, err := identity.Sign(r.people[req.Requester].signer(r.t), st)
	require.NoError(r.t, err)
	req.Statement, req.Signature = string(st.Text()), sig
	return req
}

func (r *rig) progress() api.Progress {
	r.t.Helper()
	q, err := r.QueryWorkflow(api.ProgressQuery)
	require.NoError(r.t, err)
	var p api.Progress
	require.NoError(r.t, q.Get(&p))
	return p
}

func errorType(t *testing.T, err error) string {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	return appErr.Type()
}
