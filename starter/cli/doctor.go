package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/starter/hostcheck"
	"github.com/algotrendy/rewind/workflows/api"
)

// Check statuses: only fail blocks a rollback.
const (
	CheckOK   = "ok"
	CheckWarn = "warn"
	CheckFail = "fail"
	CheckSkip = "skip"
)

// Check is one line of `rewind doctor`: what was looked at, what was found, what to do.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Checkup is what `rewind doctor` found, in the order it looked.
type Checkup struct {
	// OK is true when nothing blocks a rollback (warnings do not).
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// doctorFlags are the flags of `rewind doctor`.
type doctorFlags struct {
	stack, as, key string
	maxSkew        time.Duration
}

// searchAttributes are the attributes every rollback sets; a start fails without them.
var searchAttributes = []string{api.StackKey.GetName(), api.OptionKey.GetName(), api.SeverityKey.GetName(), api.PhaseKey.GetName()}

// NewCmdDoctor builds `rewind doctor`.
func NewCmdDoctor(o *Options) *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor [--stack STACK]",
		Short: "Check, before the night it is needed, that a rollback can run from here",
		Long: `Check everything a rollback needs, in order, one line each: ok, or what is wrong and
what to do. The configuration loads; Temporal answers, with the namespace and Rewind's
search attributes; a worker polls the rollback task queue and each stack's host queue;
on a Docker host, the engine and the compose CLI answer, each stack's compose files and
volumes exist, igzip is installed (a warning with pigz or neither), the engine's data
root has room for a staging restore of the stack's largest volume plus its newest
backup, and the state folder is writable; your signing key loads and is one the policy
lists for you; this machine's clock is within --max-skew of Temporal's; each volume's
newest backup, its age and when Rewind last read it whole.

It changes nothing and starts no workflow. Away from a Docker host (a laptop) the host's
checks are skipped, not failed. Exit 0 when nothing blocks a rollback (warnings do not),
1 otherwise; --json prints the checklist for monitoring.`,
		Example: "  rewind doctor\n  rewind doctor --stack prod --as alice\n  rewind doctor --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			up := o.doctor(cmd.Context(), f)
			if o.JSON {
				if err := o.printJSON(up); err != nil {
					return err
				}
			} else {
				printCheckup(o.Out, up)
			}
			if !up.OK {
				return errors.New(blockers(up))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stack, "stack", "", "check only this stack (default: every stack of rewind.yaml)")
	fl.StringVar(&f.as, "as", "", "whose key to check (default: identity.name, then $USER)")
	fl.StringVar(&f.key, "key", "", "private key file to check instead of identity.key or ssh-agent")
	fl.DurationVar(&f.maxSkew, "max-skew", 5*time.Second, "how far this machine's clock may be from Temporal's")
	fl.BoolVar(&o.JSON, "json", false, "print the checklist as JSON")
	return cmd
}

// doctor runs every check it can; a check that needs what an earlier one found missing
// is skipped with the reason.
func (o *Options) doctor(ctx context.Context, f doctorFlags) (up Checkup) {
	add := func(cs ...Check) { up.Checks = append(up.Checks, cs...) }
	defer func() { up.OK = !slices.ContainsFunc(up.Checks, func(c Check) bool { return c.Status == CheckFail }) }()

	cfg, err := o.Config()
	if err != nil {
		add(configCheck(nil, err))
		return up
	}
	stacks := cfg.StackNames()
	if f.stack != "" {
		if _, err := cfg.Stack(f.stack); err != nil {
			add(Check{Name: "config", Status: CheckFail, Detail: err.Error(), Fix: "name a stack of this rewind.yaml with --stack"})
			return up
		}
		stacks = []string{f.stack}
	}
	add(configCheck(cfg, nil))

	var (
		clock    *clockReading
		clockErr error
	)
	c, err := o.Client()
	if err != nil {
		add(Check{Name: "temporal", Status: CheckFail, Detail: err.Error(), Fix: "start Temporal or set temporal.address (and tls, api_key_env) to reach it"})
	} else {
		add(Check{Name: "temporal", Status: CheckOK, Detail: "answers at " + cfg.Temporal.Address})
		add(namespaceCheck(ctx, c, cfg.Temporal.Namespace))
		add(searchAttributeCheck(ctx, c, cfg.Temporal.Namespace))
		for _, q := range doctorQueues(cfg, stacks) {
			add(pollerCheck(ctx, c, q))
		}
		if reading, err := readServerClock(ctx, c, cfg.Temporal.Namespace); err != nil {
			clockErr = err
		} else {
			clock = &reading
		}
	}

	host, notHost, err := hostcheck.Open(ctx)
	switch {
	case err != nil:
		add(Check{Name: "docker", Status: CheckFail, Detail: err.Error(), Fix: "start dockerd, or set DOCKER_HOST to the engine the stacks run on"})
	case host == nil:
		add(Check{Name: "docker", Status: CheckSkip, Detail: "not a Docker host (" + notHost + "): skipped the engine, compose, volumes, disk and backups checks"})
	default:
		defer host.Close()
		add(o.hostChecks(ctx, cfg, stacks, host)...)
	}
	add(stateCheck(cfg.Worker.StateDir))
	at := time.Now()
	if clock != nil {
		at = at.Add(clock.Offset())
	}
	add(o.keyCheck(cfg, f, at))
	if c == nil {
		add(Check{Name: "clock", Status: CheckSkip, Detail: "needs Temporal: not compared"})
	} else {
		add(clockCheck(clock, clockErr, f.maxSkew))
	}
	if host != nil {
		for _, stack := range stacks {
			add(o.backupCheck(ctx, cfg, stack, time.Now()))
		}
	}
	return up
}

func configCheck(cfg *config.Config, err error) Check {
	if err != nil {
		var p *config.Problems
		if errors.As(err, &p) {
			list := make([]string, len(p.List))
			for i, pr := range p.List {
				list[i] = pr.String()
			}
			return Check{Name: "config", Status: CheckFail, Detail: fmt.Sprintf("%d problem(s) in %s: %s", len(p.List), cmp.Or(p.File, "defaults and environment"), strings.Join(list, "; ")),
				Fix: "fix each problem in rewind.yaml; `rewind config check` lists them again"}
		}
		return Check{Name: "config", Status: CheckFail, Detail: err.Error(), Fix: "pass --config FILE or set REWIND_CONFIG"}
	}
	if len(cfg.Stacks) == 0 {
		return Check{Name: "config", Status: CheckWarn, Detail: fmt.Sprintf("loads, with no stacks; %d approver(s)", len(cfg.Approvers)),
			Fix: "describe your stack under stacks: (rewind init writes it from your compose file)"}
	}
	return Check{Name: "config", Status: CheckOK, Detail: fmt.Sprintf("loads: stacks %s; %d approver(s)", strings.Join(cfg.StackNames(), ", "), len(cfg.Approvers))}
}

func namespaceCheck(ctx context.Context, c client.Client, ns string) Check {
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
		return Check{Name: "namespace", Status: CheckFail, Detail: fmt.Sprintf("describe namespace %s: %v", ns, err),
			Fix: "create it (temporal operator namespace create -n " + ns + ") or set temporal.namespace"}
	}
	return Check{Name: "namespace", Status: CheckOK, Detail: ns + " exists"}
}

func searchAttributeCheck(ctx context.Context, c client.Client, ns string) Check {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return Check{Name: "search attributes", Status: CheckFail, Detail: fmt.Sprintf("list the search attributes of %s: %v", ns, err)}
	}
	var missing []string
	for _, name := range searchAttributes {
		if resp.GetCustomAttributes()[name] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		fix := make([]string, len(missing))
		for i, name := range missing {
			fix[i] = fmt.Sprintf("temporal operator search-attribute create -n %s --name %s --type Keyword", ns, name)
		}
		return Check{Name: "search attributes", Status: CheckFail, Detail: "missing in " + ns + " (every start sets them): " + strings.Join(missing, ", "), Fix: strings.Join(fix, "; ")}
	}
	return Check{Name: "search attributes", Status: CheckOK, Detail: strings.Join(searchAttributes, ", ")}
}

// doctorQueue is a task queue a rollback needs a worker on.
type doctorQueue struct {
	name, serves string
	kind         enumspb.TaskQueueType
}

// doctorQueues are the rollback queue and each stack's host queue: the stack's host, or
// for a stack that names none, the host of this rewind.yaml's worker (worker.host, else
// this machine), as the worker resolves it.
func doctorQueues(cfg *config.Config, stacks []string) []doctorQueue {
	queues := []doctorQueue{{cfg.Temporal.TaskQueue, "rollback workflows", enumspb.TASK_QUEUE_TYPE_WORKFLOW}}
	local := cfg.Worker.Host
	if local == "" {
		local, _ = os.Hostname()
	}
	for _, stack := range stacks {
		host := cmp.Or(cfg.Stacks[stack].Host, local)
		name := api.HostTaskQueue(cfg.Temporal.TaskQueue, host)
		if i := slices.IndexFunc(queues, func(q doctorQueue) bool { return q.name == name }); i >= 0 {
			queues[i].serves += ", " + stack
			continue
		}
		queues = append(queues, doctorQueue{name, "Docker steps on " + host + " of " + stack, enumspb.TASK_QUEUE_TYPE_ACTIVITY})
	}
	return queues
}

// pollerCheck asks Temporal who polls q, waiting as long as a start does for a worker
// that is restarting to show up.
func pollerCheck(ctx context.Context, c client.Client, q doctorQueue) Check {
	name := "worker " + q.name
	deadline := time.Now().Add(workerGrace)
	for {
		resp, err := c.DescribeTaskQueue(ctx, q.name, q.kind)
		if err != nil {
			return Check{Name: name, Status: CheckFail, Detail: fmt.Sprintf("ask Temporal which workers poll %s: %v", q.name, err)}
		}
		if pollers := resp.GetPollers(); len(pollers) > 0 {
			return Check{Name: name, Status: CheckOK, Detail: q.serves + ": polled by " + describePollers(pollers)}
		}
		if time.Now().After(deadline) {
			return Check{Name: name, Status: CheckFail, Detail: "no worker polls it (" + q.serves + ")",
				Fix: "start the Rewind worker on that host (systemctl start rewind-worker) with this temporal.address and task_queue"}
		}
		select {
		case <-ctx.Done():
			return Check{Name: name, Status: CheckFail, Detail: ctx.Err().Error()}
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func describePollers(pollers []*taskqueuepb.PollerInfo) string {
	var names []string
	for _, p := range pollers {
		who := p.GetIdentity()
		if build := p.GetWorkerVersionCapabilities().GetBuildId(); build != "" {
			who += " (build " + build + ")"
		}
		if !slices.Contains(names, who) {
			names = append(names, who)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// hostChecks look at the engine, compose, each stack's files and volumes, the gzip tools
// and the room for a staging restore.
func (o *Options) hostChecks(ctx context.Context, cfg *config.Config, stacks []string, host *hostcheck.Host) []Check {
	what, err := host.Describe(ctx)
	if err != nil {
		return []Check{{Name: "docker", Status: CheckFail, Detail: err.Error(), Fix: "start dockerd, or set DOCKER_HOST to the engine the stacks run on"}}
	}
	out := []Check{{Name: "docker", Status: CheckOK, Detail: what}}
	if cmd, version, err := hostcheck.Compose(ctx, cfg.Compose.Command); err != nil {
		out = append(out, Check{Name: "compose", Status: CheckFail, Detail: err.Error(), Fix: "install docker compose (or docker-compose), or set compose.command in rewind.yaml"})
	} else {
		out = append(out, Check{Name: "compose", Status: CheckOK, Detail: strings.Join(cmd, " ") + " " + version})
	}
	volumes := map[string]map[string]hostcheck.Volume{}
	for _, stack := range stacks {
		s := cfg.Stacks[stack]
		c := Check{Name: "stack " + stack, Status: CheckOK}
		var missing []string
		for _, f := range s.ComposeFiles {
			path := f
			if !filepath.IsAbs(path) && s.WorkingDir != "" {
				path = filepath.Join(s.WorkingDir, path)
			}
			if _, err := os.Stat(path); err != nil {
				missing = append(missing, "compose file "+path)
			}
		}
		vols, err := host.Volumes(ctx, s.VolumeNames())
		if err != nil && vols == nil {
			out = append(out, Check{Name: c.Name, Status: CheckFail, Detail: err.Error()})
			continue
		}
		volumes[stack] = vols
		for _, name := range s.VolumeNames() {
			if !vols[name].Exists {
				missing = append(missing, "volume "+name)
			}
		}
		if len(missing) > 0 {
			c.Status, c.Detail = CheckFail, "missing: "+strings.Join(missing, ", ")
			c.Fix = "fix compose_files, working_dir and volumes of stacks." + stack + " (docker volume ls lists the volumes; a project's volumes are named <project>_<volume>)"
		} else {
			c.Detail = fmt.Sprintf("%d compose file(s) and volume(s) %s exist", len(s.ComposeFiles), strings.Join(s.VolumeNames(), ", "))
		}
		out = append(out, c)
	}
	out = append(out, gzipCheck(archive.Decompressor()))
	root, free, rootErr := host.DataRoot(ctx)
	for _, stack := range stacks {
		out = append(out, o.diskCheck(ctx, cfg, stack, volumes[stack], root, free, rootErr))
	}
	return out
}

// gzipCheck says which of the host's tools the worker (de)compresses with here, and what
// their absence costs (archive.GzipCost, the worker's start-up warning too).
func gzipCheck(tool string) Check {
	cost, install := archive.GzipCost(tool)
	if cost == "" {
		return Check{Name: "gzip", Status: CheckOK, Detail: "restores and snapshots go through " + tool}
	}
	return Check{Name: "gzip", Status: CheckWarn, Detail: cost, Fix: install}
}

// diskCheck compares the room under the engine's data root, where the staging volume
// is made, with what a full rollback puts there: the stack's largest volume restored
// (the newest backup unpacks to about its size) plus the newest backup itself (what a
// download from S3 or a snapshot of the damaged data takes beside it).
func (o *Options) diskCheck(ctx context.Context, cfg *config.Config, stack string, vols map[string]hostcheck.Volume, root string, free int64, rootErr error) Check {
	c := Check{Name: "disk " + stack}
	if len(cfg.Stacks[stack].Volumes) == 0 {
		c.Status, c.Detail = CheckSkip, "the stack has no volumes: a rollback stages no data"
		return c
	}
	if errors.Is(rootErr, hostcheck.ErrRemoteEngine) {
		c.Status, c.Detail = CheckSkip, "the engine's data root "+root+" is on another machine: run rewind doctor there"
		return c
	}
	if rootErr != nil {
		c.Status, c.Detail = CheckWarn, rootErr.Error()
		return c
	}
	names := cfg.Stacks[stack].VolumeNames()
	largest, largestSize := names[0], int64(-1)
	for _, name := range names {
		if v := vols[name]; v.Size > largestSize {
			largest, largestSize = name, v.Size
		}
	}
	var newest BackupView
	if views, err := o.stackBackups(ctx, cfg, stack); err == nil {
		for _, b := range views {
			if b.Modified.After(newest.Modified) {
				newest = b
			}
		}
	}
	need := max(largestSize, 0) + newest.Size
	what := "volume " + largest + " (" + size(max(largestSize, 0)) + ")"
	if largestSize < 0 {
		what = "volume " + largest + " (size not reported by the engine)"
	}
	if newest.Name != "" {
		what += " plus backup " + newest.Name + " (" + size(newest.Size) + ")"
	}
	if need > free {
		c.Status, c.Detail = CheckFail, fmt.Sprintf("%s free under %s; a staging restore of %s needs %s", size(free), root, what, size(need))
		c.Fix = "free space under " + root + " (docker system prune, old images) or give it a larger filesystem before the rollback needs it"
		return c
	}
	c.Status, c.Detail = CheckOK, fmt.Sprintf("%s free under %s for a staging restore of %s", size(free), root, what)
	return c
}

// stackBackups lists a stack's backups as `rewind backups` does.
func (o *Options) stackBackups(ctx context.Context, cfg *config.Config, stack string) ([]BackupView, error) {
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	// Unread drill records show as no drill here; `rewind backups` names them.
	views, _, err := listBackups(cmd, cfg, stack, cfg.Stacks[stack])
	return views, err
}

// stateCheck asks the kernel whether this user may write the worker's state folder,
// without writing anything. A folder that does not exist yet is made by the worker.
func stateCheck(dir string) Check {
	c := Check{Name: "state folder"}
	abs, _ := filepath.Abs(dir)
	probe, made := abs, true
	for {
		if _, err := os.Stat(probe); err == nil {
			break
		}
		made = false
		parent := filepath.Dir(probe)
		if parent == probe {
			break
		}
		probe = parent
	}
	if err := unix.Access(probe, unix.W_OK|unix.X_OK); err != nil {
		c.Status, c.Detail = CheckFail, fmt.Sprintf("%s is not writable here (%s: %v)", abs, probe, err)
		c.Fix = "give the worker's user that folder (chown), or set worker.state_dir"
		return c
	}
	c.Status, c.Detail = CheckOK, abs+" is writable"
	if !made {
		c.Detail = abs + " does not exist yet; the worker makes it in " + probe + ", which is writable"
	}
	return c
}

// keyCheck finds the key the CLI would sign with and the policy's keys for the person,
// judged at Temporal's time: the worker checks a key when it is used, by its own clock.
func (o *Options) keyCheck(cfg *config.Config, f doctorFlags, at time.Time) Check {
	person := firstNonEmpty(f.as, cfg.Identity.Name, os.Getenv("USER"))
	c := Check{Name: "signing key"}
	if strings.TrimSpace(person) == "" {
		c.Status, c.Detail, c.Fix = CheckWarn, "whose key to check is unknown", "pass --as NAME or set identity.name"
		return c
	}
	if _, listed := cfg.Approver(person); !listed && len(cfg.Approvers) > 0 {
		c.Status, c.Detail = CheckFail, fmt.Sprintf("%q is not in the policy of rewind.yaml: starts and decisions as them are refused", person)
		c.Fix = "pass --as NAME or set identity.name to your name in approvers"
		return c
	}
	signer, closer, err := o.signer(person, f.key)
	if err != nil {
		c.Status, c.Detail, c.Fix = CheckFail, err.Error(), "pass --key FILE or fix identity.key: a private key in OpenSSH format"
		return c
	}
	if signer == nil {
		if why := mustSign(cfg, person); why != "" {
			c.Status, c.Detail = CheckFail, "no key to sign with for "+person+" ("+why+"): no --key, no identity.key, no key in ssh-agent"
			c.Fix = "ssh-add your key, pass --key FILE, or set identity.key"
			return c
		}
		c.Status, c.Detail = CheckWarn, "no key for "+person+": starts and decisions go unsigned, taken on word"
		c.Fix = "add a key for " + person + " to approvers[].keys and to ssh-agent"
		return c
	}
	defer closer.Close()
	pub := signer.PublicKey()
	fp := ssh.FingerprintSHA256(pub)
	lines, why := keyWindows(cfg, person, pub)
	for _, w := range lines {
		if w.validAt(at) {
			c.Status, c.Detail = CheckOK, fmt.Sprintf("%s signs as %s, listed at %s", fp, person, w.where)
			if !w.until.IsZero() && w.until.Before(at.Add(signedFor)) {
				c.Status = CheckWarn
				c.Detail += fmt.Sprintf(", until %s by Temporal's clock: a decision signed now outlives it", w.until.Format(time.RFC3339))
				c.Fix = "renew the key's expiry-time or valid-before"
			}
			return c
		}
	}
	if len(lines) > 0 {
		w := lines[0]
		when := "expired at " + w.until.Format(time.RFC3339)
		if !w.from.IsZero() && at.Before(w.from) {
			when = "is valid only after " + w.from.Format(time.RFC3339)
		}
		c.Status = CheckFail
		c.Detail = fmt.Sprintf("%s of %s (%s) %s, and Temporal's clock says %s: the worker refuses what it signs", fp, person, w.where, when, at.UTC().Format(time.RFC3339))
		c.Fix = "if the key's window is right, set both clocks right (timedatectl, NTP); else renew the key in the policy"
		return c
	}
	c.Status, c.Detail = CheckFail, fmt.Sprintf("%s is not a key of %s in the policy%s: the worker refuses what it signs", fp, person, why)
	c.Fix = "add its public key to approvers[].keys of " + person + " (ssh-keygen -y -f KEY), or sign with the key listed there"
	return c
}

// keyWindow is where the policy lists a key of a person, and when it may sign.
type keyWindow struct {
	where       string
	from, until time.Time
}

func (w keyWindow) validAt(at time.Time) bool {
	at = at.Truncate(time.Second)
	return (w.from.IsZero() || !at.Before(w.from)) && (w.until.IsZero() || !at.After(w.until))
}

// keyWindows lists where the policy gives person the key pub: approvers[].keys lines
// (expiry-time) and allowed signers lines (valid-after, valid-before).
func keyWindows(cfg *config.Config, person string, pub ssh.PublicKey) ([]keyWindow, string) {
	var out []keyWindow
	same := func(k ssh.PublicKey) bool { return k != nil && string(k.Marshal()) == string(pub.Marshal()) }
	for i, a := range cfg.Approvers {
		if a.Name != person {
			continue
		}
		for j, line := range a.Keys {
			if k, err := identity.ParseKeyLine(line); err == nil && same(k.Key) {
				out = append(out, keyWindow{where: fmt.Sprintf("approvers[%d].keys[%d]", i, j), until: k.ExpiryTime})
			}
		}
	}
	// A bare public_key of earlier configurations never expires.
	for _, h := range cfg.KeyHolders(nil) {
		if h.Name == person && strings.HasSuffix(h.Where, ".public_key") && same(h.Key) {
			out = append(out, keyWindow{where: h.Where})
		}
	}
	path := cfg.Policy.AllowedSigners
	if path == "" {
		return out, ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return out, " (" + path + " is not readable here)"
	}
	list, err := identity.ParseAllowedSigners(b)
	if err != nil {
		return out, " (" + path + ": " + err.Error() + ")"
	}
	for _, s := range list {
		timeless := s
		timeless.ValidAfter, timeless.ValidBefore = time.Time{}, time.Time{}
		if same(s.Key) && timeless.Allows(person, identity.Namespace, time.Time{}) {
			out = append(out, keyWindow{where: fmt.Sprintf("%s line %d", path, s.Line), from: s.ValidAfter, until: s.ValidBefore})
		}
	}
	return out, ""
}

// clockReading brackets Temporal's clock: the server stamped Server while this machine's
// clock went from Before to After.
type clockReading struct {
	Server, Before, After time.Time
}

// Offset is how far Temporal's clock is ahead of this machine's (negative: behind).
func (r clockReading) Offset() time.Duration {
	return r.Server.Sub(r.Before.Add(r.After.Sub(r.Before) / 2))
}

// Uncertainty is how far the true offset may be from Offset.
func (r clockReading) Uncertainty() time.Duration { return r.After.Sub(r.Before) / 2 }

// readServerClock asks Temporal for its time without starting anything. No read-only
// call carries the server's time (GetSystemInfo and DescribeNamespace do not; a history's
// events are as old as its workflow), but a task queue lists its pollers with the
// server's time of their last poll: the doctor long-polls a queue of its own that no
// one sends work to, reads its own poll's time, and drops the poll.
func readServerClock(ctx context.Context, c client.Client, ns string) (clockReading, error) {
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	// A sticky queue has one partition, so the poll is listed where the describe looks.
	queue := &taskqueuepb.TaskQueue{Name: "rewind-doctor-clock-" + hex.EncodeToString(nonce), Kind: enumspb.TASK_QUEUE_KIND_STICKY, NormalName: "rewind-doctor-clock"}
	who := "rewind doctor " + hex.EncodeToString(nonce)
	// The server takes only a poll with a deadline; this one ends with the doctor.
	pollCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	before := time.Now()
	polled := make(chan error, 1)
	go func() {
		_, err := c.WorkflowService().PollWorkflowTaskQueue(pollCtx, &workflowservice.PollWorkflowTaskQueueRequest{
			Namespace: ns, TaskQueue: queue, Identity: who,
		})
		polled <- err
	}()
	for deadline := before.Add(3 * time.Second); ; {
		resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{Namespace: ns, TaskQueue: queue, TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW})
		after := time.Now()
		if err != nil {
			return clockReading{}, fmt.Errorf("read Temporal's clock: %w", err)
		}
		for _, p := range resp.GetPollers() {
			if p.GetIdentity() == who && p.GetLastAccessTime() != nil {
				return clockReading{Server: p.GetLastAccessTime().AsTime(), Before: before, After: after}, nil
			}
		}
		if after.After(deadline) {
			return clockReading{}, fmt.Errorf("read Temporal's clock: the doctor's poll of %s was not listed within 3s", queue.GetName())
		}
		select {
		case <-ctx.Done():
			return clockReading{}, ctx.Err()
		case err := <-polled:
			// A server that refuses the poll (a key without worker rights) says why.
			return clockReading{}, fmt.Errorf("read Temporal's clock: poll %s: %v", queue.GetName(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// clockCheck fails only a skew the reading proves: beyond maxSkew by more than its
// uncertainty. Signed decisions carry an expiry by this machine's clock that the worker
// judges by Temporal's.
func clockCheck(r *clockReading, readErr error, maxSkew time.Duration) Check {
	c := Check{Name: "clock"}
	if r == nil {
		c.Status, c.Detail = CheckWarn, fmt.Sprintf("not compared: %v", readErr)
		return c
	}
	off, unc := r.Offset(), r.Uncertainty()
	ahead := "ahead of"
	if off < 0 {
		ahead = "behind"
	}
	c.Detail = fmt.Sprintf("Temporal's clock is %s %s this machine's (±%s; allowed %s)", seconds(off.Abs()), ahead, seconds(unc), maxSkew)
	if off.Abs()-unc > maxSkew {
		c.Status = CheckFail
		c.Fix = "set both clocks right (timedatectl set-ntp true on each machine): decisions this machine signs expire " + seconds(off.Abs()) + " early or late at the worker"
		return c
	}
	c.Status = CheckOK
	return c
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// backupCheck reports each volume's newest backup: its age and the last time Rewind read
// it whole. No backup blocks a full rollback; an old or unproven one is a warning.
func (o *Options) backupCheck(ctx context.Context, cfg *config.Config, stack string, now time.Time) Check {
	c := Check{Name: "backups " + stack, Status: CheckOK}
	s := cfg.Stacks[stack]
	if len(s.Volumes) == 0 {
		c.Detail = "the stack has no volumes to restore"
		return c
	}
	views, err := o.stackBackups(ctx, cfg, stack)
	if err != nil {
		c.Status, c.Detail = CheckFail, err.Error()
		c.Fix = "check stacks." + stack + ".backups: the folder or bucket must be readable from this host"
		return c
	}
	var parts, fixes []string
	for _, v := range s.Volumes {
		i := slices.IndexFunc(views, func(b BackupView) bool { return b.Volume == v.Name })
		if i < 0 {
			c.Status = CheckFail
			parts = append(parts, fmt.Sprintf("%s: no backup matches %s in %s", v.Name, v.Pattern, s.Backups.Location()))
			fixes = append(fixes, "take a backup of "+v.Name+" (a full rollback has nothing to restore)")
			continue
		}
		b := views[i] // newest first
		part := fmt.Sprintf("%s: newest %s, %s old, ", v.Name, b.Name, human(now.Sub(b.Modified)))
		switch {
		case b.Last == nil:
			part += "never read whole"
			fixes = append(fixes, "prove it: rewind backups "+stack+" --verify")
			c.Status = worse(c.Status, CheckWarn)
		case b.Last.OK:
			part += fmt.Sprintf("read whole %s ago by %s", human(now.Sub(b.Last.At)), b.Last.By)
		default:
			part += fmt.Sprintf("FAILED when read %s ago: %s", human(now.Sub(b.Last.At)), b.Last.Detail)
			fixes = append(fixes, "a full rollback falls back to an older backup; take a new one")
			c.Status = worse(c.Status, CheckWarn)
		}
		if now.Sub(b.Modified) > 48*time.Hour {
			fixes = append(fixes, "the newest backup of "+v.Name+" is over two days old: check the backup job")
			c.Status = worse(c.Status, CheckWarn)
		}
		parts = append(parts, part)
	}
	c.Detail, c.Fix = strings.Join(parts, "; "), strings.Join(fixes, "; ")
	return c
}

func worse(a, b string) string {
	rank := map[string]int{CheckSkip: 0, CheckOK: 1, CheckWarn: 2, CheckFail: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// printCheckup writes the checklist, one check a line, each fix under its check.
func printCheckup(w io.Writer, up Checkup) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range up.Checks {
		// Padded, so the columns line up alike whichever statuses a run has.
		fmt.Fprintf(tw, "%-4s\t%s\t%s\n", strings.ToUpper(c.Status), c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(tw, "\t\t→ %s\n", c.Fix)
		}
	}
	_ = tw.Flush()
	if up.OK {
		warnings := 0
		for _, c := range up.Checks {
			if c.Status == CheckWarn {
				warnings++
			}
		}
		fmt.Fprintf(w, "nothing blocks a rollback (%d warning(s))\n", warnings)
		return
	}
	fmt.Fprintln(w, blockers(up))
}

func blockers(up Checkup) string {
	var failed []string
	for _, c := range up.Checks {
		if c.Status == CheckFail {
			failed = append(failed, c.Name)
		}
	}
	return fmt.Sprintf("%d check(s) block a rollback: %s", len(failed), strings.Join(failed, ", "))
}
