package workflows

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// guardOwnsItsState versions the checks of who started a guard and of the state it was
// handed; guards started before them replay as they ran.
const guardOwnsItsState = "guard-owns-its-state"

// guardActsOnWhatLasts versions the guard that judges each criterion over its `for:`
// window, proposes a full rollback at P2 unless the stack's config says otherwise, acts
// once and then holds, and leaves each criterion's final state; guards started before it
// replay as they ran.
const guardActsOnWhatLasts = "guard-acts-on-what-lasts"

// seriesPoints bounds the values a run keeps for the report.
const seriesPoints = 60

// GuardSample is one look at the stack.
type GuardSample struct {
	At         time.Time
	Containers docker.ContainerSample
	API        probe.APISample
}

// finding is a criterion that fired, with the value that made it and, when it held over a
// window, the samples that did.
type finding struct {
	config.Criterion
	Value float64
	// Count is how many samples in a row it held; Series their latest values.
	Count  int         `json:",omitempty"`
	Series []api.Point `json:",omitempty"`
}

func (f finding) String() string {
	s := fmt.Sprintf("%s %s over the limit of %s (%s)", f.Measure, formatMeasure(f.Measure, f.Value), formatMeasure(f.Measure, f.Above), f.Class)
	if len(f.Series) < 2 {
		return s
	}
	first, last := f.Series[0].At, f.Series[len(f.Series)-1].At
	values := make([]string, 0, len(f.Series))
	for _, p := range f.Series {
		values = append(values, formatMeasure(f.Measure, p.Value))
	}
	return fmt.Sprintf("%s for %s, %d samples in a row from %s to %s: %s", s, last.Sub(first).Round(time.Second), max(f.Count, len(f.Series)),
		first.UTC().Format(time.TimeOnly), last.UTC().Format(time.TimeOnly), strings.Join(values, ", "))
}

// memoryPoints is how many readings the leak test looks at; leakClimb the least growth
// over them that can be a leak rather than a heap breathing.
const (
	memoryPoints = 6
	leakClimb    = 32 << 20
)

// samplesPerRun bounds a guard run's history: it continues as new after this many.
const samplesPerRun = 200

// Guard watches a stack after a deploy, as the runbook's "When to Execute Rollback" says:
// every interval it samples the containers and the API, judges each criterion, and on a
// critical finding starts the configured rollback at P1 on its own behalf, on a major one
// proposes it at P2 for approval, and records minor ones. It ends quietly when the window
// passes, or when someone starts a rollback of the stack by hand.
func Guard(ctx workflow.Context, req api.GuardRequest) (api.GuardResult, error) {
	g := &guard{ctx: ctx, req: req}
	t, err := newTracker(ctx, fmt.Sprintf("guard of %s %s, started by %s", req.Stack, req.Version, req.Requester))
	if err != nil {
		return api.GuardResult{}, err
	}
	g.track = t
	g.checked = workflow.GetVersion(ctx, guardOwnsItsState, workflow.DefaultVersion, 1) >= 1
	g.lasting = g.checked && workflow.GetVersion(ctx, guardActsOnWhatLasts, workflow.DefaultVersion, 1) >= 1
	if g.checked && req.State != nil && workflow.GetInfo(ctx).ContinuedExecutionRunID == "" {
		err := temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"a guard's state is its own: this start of the guard of %s carries one (%d samples), which only the guard's own continue-as-new may; start it without State (`rewind guard` or `rewind deployed`); nothing was sampled or started",
			req.Stack, req.State.Samples), failure.BadInput, nil)
		t.end("failed", message(err))
		return api.GuardResult{}, err
	}
	if err := g.resolve(); err != nil {
		t.end("failed", message(err))
		return api.GuardResult{}, err
	}
	if g.checked {
		if err := g.admit(); err != nil {
			t.end("failed", message(err))
			return api.GuardResult{}, err
		}
	}
	for _, c := range g.criteria {
		g.criterionLine(g.label(c)).State = api.StateRunning
	}
	st := req.State
	if st == nil {
		st = &api.GuardState{Until: workflow.Now(ctx).Add(g.window)}
		if g.checked {
			st.Began = workflow.GetInfo(ctx).WorkflowStartTime
		}
	}
	g.state = st
	byHand := workflow.GetSignalChannel(ctx, api.RollbackStartedSignal)
	for run := 0; ; run++ {
		if !workflow.Now(ctx).Before(st.Until) {
			return g.quiet(), nil
		}
		if run == samplesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			next := req
			next.State = st
			if g.checked {
				// The next run continues this one, whose starter was admitted; a signed
				// start is used once.
				next.Statement, next.Signature = "", ""
			}
			return api.GuardResult{}, workflow.NewContinueAsNewError(ctx, Guard, next)
		}
		began := workflow.Now(ctx)
		sample, err := g.sample()
		if err != nil {
			g.notice(fmt.Sprintf("sample %d failed: %s", st.Samples+1, message(err)))
			if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok && appErr.Type() == failure.NoWorker {
				if g.lasting {
					g.settle()
				}
				t.end("failed", message(err))
				return api.GuardResult{}, err
			}
		} else if g.lasting {
			if res, done, err := g.onFindings(g.judgeLasting(sample), sample); done {
				return res, err
			}
		} else if fired := g.judge(sample); len(fired) > 0 {
			worst := fired[0]
			switch worst.Class {
			case config.ClassCritical:
				return g.act("P1", worst, fired, sample)
			case config.ClassMajor:
				return g.act("P2", worst, fired, sample)
			}
			for _, f := range fired {
				if !slices.Contains(st.Recorded, f.Measure) {
					st.Recorded = append(st.Recorded, f.Measure)
					g.notice(fmt.Sprintf("minor at %s: %s", sample.At.Format(time.TimeOnly), f))
				}
			}
		}
		// Looks keep their cadence: the next is due an interval after this one began, at
		// once when this one took longer (a worker that died mid-look).
		var who string
		stopped, due := false, false
		var ended error
		closed := false
		wait := workflow.NewSelector(ctx).
			AddReceive(byHand, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &who); stopped = true })
		if g.rollback != nil {
			// The rollback it started closing ends the guard: it acted once, and a person
			// starts the next guard.
			wait.AddFuture(g.rollback, func(f workflow.Future) { closed, ended = true, f.Get(ctx, nil) })
		}
		if left := g.interval - workflow.Now(ctx).Sub(began); left > 0 {
			wait.AddFuture(workflow.NewTimer(ctx, left), func(workflow.Future) { due = true })
			wait.Select(ctx)
		} else {
			due = true
			for wait.HasPending() {
				wait.Select(ctx)
			}
		}
		if closed {
			return g.rollbackClosed(ended), nil
		}
		if stopped && !g.checked {
			outcome := "stopped: " + cmp.Or(who, "someone") + " started a rollback of " + req.Stack + " by hand"
			t.end(outcome, "")
			return api.GuardResult{Outcome: outcome}, nil
		}
		// A stop signal counts only with a rollback behind it; one without keeps the
		// cadence, so a stream of them cannot make the guard look more often, or less.
		for stopped {
			stopped = false
			if outcome, ok := g.byHand(who); ok {
				g.settle()
				t.end(outcome, "")
				return api.GuardResult{Outcome: outcome, Rollback: st.Acted}, nil
			}
			if !due {
				wait.Select(ctx)
			}
		}
	}
}

type guard struct {
	ctx      workflow.Context
	req      api.GuardRequest
	track    *tracker
	plan     config.Plan
	criteria []config.Criterion
	window   time.Duration
	interval time.Duration
	state    *api.GuardState
	// checked says this run checks its starter, its state and stop signals; lasting that
	// it judges criteria over their windows, acts once and leaves their final states.
	checked, lasting bool
	// rollback is the rollback this run started, until it closes.
	rollback workflow.ChildWorkflowFuture
}

// resolve reads the stack's guard settings and policy from the worker's configuration and
// checks the guard may act: it is a person of the policy who may start a P1 rollback.
func (g *guard) resolve() error {
	var p *policy.Activities
	ctx := askWorker(g.ctx)
	if err := workflow.ExecuteLocalActivity(ctx, p.Plan, policy.ResolveInput{Stack: g.req.Stack, Severity: "P1"}).Get(ctx, &g.plan); err != nil {
		return err
	}
	cfg := g.plan.Target.Guard
	g.criteria = slices.Clone(cfg.Criteria)
	rank := map[string]int{config.ClassCritical: 0, config.ClassMajor: 1, config.ClassMinor: 2}
	slices.SortStableFunc(g.criteria, func(a, b config.Criterion) int { return rank[a.Class] - rank[b.Class] })
	g.window = cmp.Or(g.req.Window, cfg.Window)
	g.interval = cmp.Or(g.req.Interval, cfg.Interval)
	switch {
	case g.interval < time.Second || g.interval > time.Hour:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("a guard samples every 1s to 1h, not every %s", g.interval), failure.BadInput, nil)
	case g.window < g.interval || g.window > 7*24*time.Hour:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("a guard watches from one interval (%s) to 7 days, not %s", g.interval, g.window), failure.BadInput, nil)
	}
	me, ok := g.plan.Policy.Person(g.plan.GuardName)
	if !ok || g.plan.Policy.Rank(me.Role) < g.plan.Policy.Rank(g.plan.Policy.Rule.Role) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the guard acts as %q, who must be in the worker's approvers with the role %s or above to start a P1 rollback: add {name: %s, role: %s} (with its key when signatures are required)",
			g.plan.GuardName, g.plan.Policy.Rule.Role, g.plan.GuardName, g.plan.Policy.Rule.Role), failure.NotAuthorized, nil)
	}
	return nil
}

// admit checks who started the guard, as a rollback checks its requester (the same rule,
// through the same code): a person of the worker's policy who may start the P1 rollback
// the guard may start, with a signed statement for the guard's workflow ID when the policy
// or their keys ask for one. A run that continued another must have continued a guard:
// only the guard's own continue-as-new carries its state.
func (g *guard) admit() error {
	info := workflow.GetInfo(g.ctx)
	if prev := info.ContinuedExecutionRunID; prev != "" {
		ran, err := g.execution(policy.ExecutionInput{WorkflowID: info.WorkflowExecution.ID, RunID: prev, Types: []string{api.GuardWorkflow}, TaskQueue: info.TaskQueueName})
		if err != nil {
			return fmt.Errorf("look up the run this guard continued: %w", err)
		}
		if !ran.Ours {
			g.notice(fmt.Sprintf("refused: this run continued %s, a %s on %s, not a guard on %s", prev, cmp.Or(ran.Type, "run the server does not know"), cmp.Or(ran.Queue, "no queue"), info.TaskQueueName))
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"a guard's state is its own: this run continued run %s, which was not a guard on %s; start the guard with `rewind guard`; nothing was sampled or started", prev, info.TaskQueueName), failure.BadInput, nil)
		}
		// That guard admitted its starter when it began.
		return nil
	}
	r := &rollback{ctx: g.ctx, plan: g.plan, track: g.track, req: api.GuardAuthority(g.req.Stack, g.plan.Target.Guard.Option, g.req.Requester), subject: g.req.Stack}
	r.req.Severity, r.req.RequestedAt, r.req.Statement, r.req.Signature = g.plan.Policy.Severity, g.req.RequestedAt, g.req.Statement, g.req.Signature
	err := r.admit()
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		// The refusal keeps its type, so callers and tests tell it from a failure.
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the guard may start a P1 %s rollback of %s, so its starter needs that authority: %s",
			r.req.Option, g.req.Stack, appErr.Message()), appErr.Type(), nil)
	}
	return err
}

// execution asks the server, through the client of the worker running this code, about a
// workflow execution: a local activity, recorded in history, which no caller can schedule.
func (g *guard) execution(in policy.ExecutionInput) (policy.Execution, error) {
	var p *policy.Activities
	ctx := locally(g.ctx, time.Minute, 3)
	var out policy.Execution
	err := workflow.ExecuteLocalActivity(ctx, p.Execution, in).Get(ctx, &out)
	return out, err
}

// admissionWait is how long a stop signal waits for the rollback behind it to be admitted
// (past its start); admissionPoll how often it looks.
const (
	admissionWait = 30 * time.Second
	admissionPoll = 2 * time.Second
)

// byHand says whether a rollback-started signal stops the guard: only when the server
// shows a Rewind rollback of the stack (or of a group that holds it) running on this queue
// that got past its admission, so stopping a guard takes the authority starting a rollback
// takes. A signal with nothing behind it is recorded and the guard goes on.
func (g *guard) byHand(who string) (string, bool) {
	var rollbacks []string
	for _, o := range []string{api.OptionQuick, api.OptionFull, api.OptionGit, api.OptionEmergency} {
		name, _ := api.WorkflowName(o)
		rollbacks = append(rollbacks, name)
	}
	in := policy.ExecutionInput{WorkflowID: api.WorkflowID(g.req.Stack), Types: rollbacks, TaskQueue: workflow.GetInfo(g.ctx).TaskQueueName, ProgressQuery: api.ProgressQuery,
		Stack: g.req.Stack, GroupIDPrefix: api.GroupWorkflowID(""), GroupType: api.FleetWorkflow}
	deadline := workflow.Now(g.ctx).Add(admissionWait)
	for {
		ran, err := g.execution(in)
		id := cmp.Or(ran.WorkflowID, in.WorkflowID)
		if err == nil && g.state.Acted != "" && g.state.Acted == id+"/"+ran.RunID {
			g.notice(fmt.Sprintf("ignored a %s signal from %q: %s run %s is the rollback this guard started; the guard holds", api.RollbackStartedSignal, who, id, ran.RunID))
			return "", false
		}
		var why string
		switch {
		case err != nil:
			why = "could not look it up: " + message(err)
		case !ran.Found:
			why = "no rollback " + id + " exists"
		case !ran.Running:
			why = fmt.Sprintf("%s is %s, not running", id, strings.ToLower(strings.TrimPrefix(ran.Status, "WORKFLOW_EXECUTION_STATUS_")))
		case !ran.Ours:
			why = fmt.Sprintf("%s is a %s on %s, not a Rewind rollback", id, ran.Type, ran.Queue)
		case ran.Phase != "" && ran.Phase != "starting":
			return fmt.Sprintf("stopped: a rollback of %s is running (%s run %s: %s), started by hand; the signal came from %q", g.req.Stack, id, ran.RunID, ran.Summary, who), true
		default:
			why = fmt.Sprintf("%s run %s was not admitted by the policy within %s", id, ran.RunID, admissionWait)
		}
		// A rollback still being admitted gets a little time; nothing else does.
		if err == nil && ran.Running && ran.Ours && workflow.Now(g.ctx).Before(deadline) {
			if workflow.Sleep(g.ctx, admissionPoll) == nil {
				continue
			}
		}
		g.notice(fmt.Sprintf("ignored a %s signal from %q: %s; the guard goes on", api.RollbackStartedSignal, who, why))
		return "", false
	}
}

// since is where a look at the logs starts: after the last look, or when the guard began,
// never before, when the logs were the previous deploy's.
func (g *guard) since() time.Time {
	switch {
	case !g.checked || !g.state.LastLook.IsZero():
		return g.state.LastLook
	case !g.state.Began.IsZero():
		return g.state.Began
	}
	return workflow.GetInfo(g.ctx).WorkflowStartTime
}

// sample looks at the containers and the API, on the stack's host.
func (g *guard) sample() (GuardSample, error) {
	t := g.plan.Target
	// A worker that dies mid-sample is noticed within the heartbeat timeout, so the next
	// look is not a whole start-to-close late; a look is not retried, the next one is due
	// anyway.
	ctx := workflow.WithActivityOptions(g.ctx, heartbeating(g.plan, "", max(g.interval, 30*time.Second), &temporal.RetryPolicy{MaximumAttempts: 1}))
	var d *docker.Activities
	var p *probe.Activities
	s := GuardSample{At: workflow.Now(g.ctx)}
	containers := workflow.ExecuteActivity(ctx, d.SampleContainers, docker.SampleInput{Project: t.Project, Since: g.since(), Patterns: t.Guard.LostPatterns})
	api := workflow.ExecuteActivity(ctx, p.SampleAPI, probe.APISampleInput{
		HealthURL: t.Checks.HealthURL, FunctionalURL: t.Checks.FunctionalURL, Probes: t.Guard.Probes,
		DatabaseURL: t.Checks.DatabaseURL, DataQuery: t.Checks.DataQuery,
	})
	err := containers.Get(ctx, &s.Containers)
	if apiErr := api.Get(ctx, &s.API); err == nil {
		err = apiErr
	}
	if notTaken(err) {
		return s, noWorker(err, g.plan.HostQueue, onTheStacksHost)
	}
	if err != nil {
		return s, err
	}
	g.state.LastLook = s.At
	g.state.Samples++
	return s, nil
}

// judge measures a sample against every criterion and returns those that fired, most
// severe first, and shows each measure against its limit.
func (g *guard) judge(s GuardSample) []finding {
	st := g.state
	values := measure(st, s, g.plan.Target.Guard, g.plan.Target.Checks.DataQuery != "")
	var fired []finding
	for _, c := range g.criteria {
		v, known := values[c.Measure]
		step := g.criterionLine(label(c))
		switch {
		case !known:
			step.Detail = "not measured yet"
		case v > c.Above:
			fired = append(fired, finding{Criterion: c, Value: v})
			step.State, step.Detail = api.StateFailed, fmt.Sprintf("%s at %s", formatMeasure(c.Measure, v), s.At.Format(time.TimeOnly))
		default:
			step.Detail = "now " + formatMeasure(c.Measure, v)
		}
	}
	g.track.progress.Summary = fmt.Sprintf("guard of %s %s: sample %d, every %s until %s", g.req.Stack, g.req.Version, st.Samples, g.interval, st.Until.Format(time.TimeOnly))
	g.track.progress.Phase = "watching"
	g.track.publish()
	return fired
}

// measure updates the guard's state with a sample and returns each measure's value; a
// measure not known yet (no baseline, too few readings) is absent.
func measure(st *api.GuardState, s GuardSample, guard config.Guard, dataQuery bool) map[string]float64 {
	v := map[string]float64{}
	if !st.Started {
		st.Started, st.Restarts0 = true, s.Containers.Restarts
	}
	if len(s.Containers.Down) > 0 {
		if st.DownSince.IsZero() {
			st.DownSince = s.At
		}
		v["down_for"] = s.At.Sub(st.DownSince).Seconds()
	} else {
		st.DownSince = time.Time{}
		v["down_for"] = 0
	}
	v["restarts"] = float64(s.Containers.Restarts - st.Restarts0)
	v["lost_connection"] = float64(len(s.Containers.LogHits))
	if s.API.Requests > 0 {
		v["error_ratio"] = s.API.ErrorRatio()
	}
	if s.API.HealthOK {
		st.HealthFailures = 0
	} else {
		st.HealthFailures++
	}
	v["health_failures"] = float64(st.HealthFailures)
	if dataQuery {
		v["data_missing"] = 0
		if !s.API.DataOK {
			v["data_missing"] = 1
		}
	}
	if s.API.Latency > 0 {
		if len(st.Baseline) < guard.Baseline {
			st.Baseline = append(st.Baseline, s.API.Latency)
		} else {
			v["latency_ratio"] = float64(s.API.Latency) / float64(max(median(st.Baseline), guard.LatencyFloor, 1))
		}
	}
	st.Memory = append(st.Memory, api.MemoryPoint{At: s.At, Bytes: s.Containers.Memory})
	if len(st.Memory) > memoryPoints {
		st.Memory = st.Memory[len(st.Memory)-memoryPoints:]
	}
	if len(st.Memory) == memoryPoints {
		v["memory_growth"] = leakRate(st.Memory)
	}
	return v
}

// leakRate is how many MiB a minute memory keeps growing over the readings: a leak climbs
// at nearly every reading, by more than a garbage collector's swing, in steps none of
// which is most of the climb, and ends near its top; a spike falls back and a step up is
// one step, so both read as no growth.
func leakRate(points []api.MemoryPoint) float64 {
	rises, top, step := 0, int64(0), int64(0)
	for i, p := range points {
		top = max(top, p.Bytes)
		if i > 0 && p.Bytes > points[i-1].Bytes {
			rises++
			step = max(step, p.Bytes-points[i-1].Bytes)
		}
	}
	first, last := points[0].Bytes, points[len(points)-1].Bytes
	climb := last - first
	if rises < len(points)-2 || float64(last) < 0.9*float64(top) || climb < leakClimb || step > climb/2 {
		return 0
	}
	// Least-squares slope of bytes over seconds.
	var sx, sy, sxx, sxy float64
	t0 := points[0].At
	for _, p := range points {
		x, y := p.At.Sub(t0).Seconds(), float64(p.Bytes)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(points))
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return max(0, (n*sxy-sx*sy)/den*60/(1<<20))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func label(c config.Criterion) string {
	return fmt.Sprintf("%s: %s above %s", c.Class, c.Measure, formatMeasure(c.Measure, c.Above))
}

func formatMeasure(m string, v float64) string {
	switch m {
	case "down_for":
		return fmt.Sprintf("%.0fs", v)
	case "error_ratio":
		return fmt.Sprintf("%.0f%%", v*100)
	case "memory_growth":
		return fmt.Sprintf("%.1f MiB/min", v)
	case "latency_ratio":
		return fmt.Sprintf("%.2f×", v)
	}
	return fmt.Sprintf("%g", v)
}

// act starts the stack's configured rollback on the guard's behalf: P1 runs at once, P2
// waits for an approver, who is paged by the rollback itself. The samples that led here
// go into the evidence; the rollback's reason names the criterion and when it fired.
func (g *guard) act(severity string, worst finding, fired []finding, s GuardSample) (api.GuardResult, error) {
	t := g.plan.Target
	option := t.Guard.Option
	info := workflow.GetInfo(g.ctx).WorkflowExecution
	prefix := evidence.Prefix(workflow.Now(g.ctx).UTC().Format("20060102"), info.ID, info.RunID)
	evidenceOf := map[string]any{"fired": fired, "sample": s, "state": g.state}
	if g.lasting {
		// The samples that led here, as a series per criterion with its limit and window.
		evidenceOf["interval"] = g.interval.String()
	}
	body, _ := json.MarshalIndent(evidenceOf, "", "  ")
	var e *evidence.Activities
	var stored string
	noteCtx := workflow.WithActivityOptions(g.ctx, onHost(g.plan, "", time.Minute, &temporal.RetryPolicy{MaximumAttempts: 3}))
	samples := "not stored"
	if err := workflow.ExecuteActivity(noteCtx, e.Note, evidence.NoteInput{Name: prefix + "/guard-samples.json", Text: string(body)}).Get(noteCtx, &stored); err != nil {
		samples += ": " + message(err)
	} else {
		samples = stored
	}
	var reasons []string
	for _, f := range fired {
		reasons = append(reasons, f.String())
	}
	reason := fmt.Sprintf("guard of %s %s: %s at %s; also: %s; samples: %s", g.req.Stack, g.req.Version, worst, s.At.UTC().Format(time.RFC3339), strings.Join(reasons[1:], ", "), samples)
	if len(reasons) == 1 {
		reason = fmt.Sprintf("guard of %s %s: %s at %s; samples: %s", g.req.Stack, g.req.Version, worst, s.At.UTC().Format(time.RFC3339), samples)
	}
	deployBackups, refused := g.deployBackups()
	if len(deployBackups) > 0 {
		reason += "; backup taken before the deploy: " + strings.Join(deployBackups, ", ")
	}
	if len(refused) > 0 {
		reason += "; not pinned, as not shown to be this deploy's backup (the rollback picks one by its usual rules): " + strings.Join(refused, "; ")
	}
	req := api.Request{Stack: g.req.Stack, Option: option, Severity: severity, Reason: reason, Requester: g.plan.GuardName, RequestedAt: workflow.Now(g.ctx)}
	if option == api.OptionFull && len(deployBackups) == 1 && len(g.req.Backups) == 1 && len(t.Volumes) == 1 {
		// The deploy's own backup: the rollback loses only what was written after it.
		req.Backup = deployBackups[0]
	}
	if mustSignAs(g.plan.Policy, g.plan.GuardName) {
		st := api.StartStatement(req, api.WorkflowID(g.req.Stack), workflow.Now(g.ctx).Add(api.MaxStartSignedFor).UTC().Truncate(time.Second), derivedNonce(g.ctx, req))
		var p *policy.Activities
		lctx := locally(g.ctx, 30*time.Second, 2)
		var sig string
		if err := workflow.ExecuteLocalActivity(lctx, p.SignAsGuard, st).Get(lctx, &sig); err != nil {
			return g.failed(fmt.Sprintf("could not sign the %s rollback it must start: %s", severity, message(err)), fired)
		}
		req.Statement, req.Signature = string(st.Text()), sig
	}
	name, _ := api.WorkflowName(option)
	cctx := workflow.WithChildOptions(g.ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            api.WorkflowID(g.req.Stack),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         fmt.Sprintf("%s rollback of %s, %s, by %s", option, g.req.Stack, severity, g.plan.GuardName),
		StaticDetails:         "**Reason:** " + reason,
		TypedSearchAttributes: temporal.NewSearchAttributes(api.StackKey.ValueSet(g.req.Stack), api.OptionKey.ValueSet(option), api.SeverityKey.ValueSet(severity), api.PhaseKey.ValueSet("starting")),
	})
	child := workflow.ExecuteChildWorkflow(cctx, name, req)
	var started workflow.Execution
	if err := child.GetChildWorkflowExecution().Get(g.ctx, &started); err != nil {
		return g.failed("could not start the rollback: "+message(err), fired)
	}
	outcome := fmt.Sprintf("started a %s %s rollback (%s run %s): %s", severity, option, started.ID, started.RunID, worst)
	switch {
	case severity == "P2" && worst.Class == config.ClassCritical && g.lasting:
		outcome = fmt.Sprintf("proposed a P2 %s rollback (%s run %s), waiting for an approver: restoring a backup over the stack's data is never automatic on the guard's word (guard.restore_without_approval is off): %s", option, started.ID, started.RunID, worst)
	case severity == "P2":
		outcome = fmt.Sprintf("proposed a P2 %s rollback (%s run %s), waiting for an approver: %s", option, started.ID, started.RunID, worst)
	}
	if g.lasting {
		g.rollback = child
		return api.GuardResult{Outcome: outcome, Rollback: started.ID + "/" + started.RunID, Findings: reasons}, nil
	}
	g.track.end(outcome, "")
	return api.GuardResult{Outcome: outcome, Rollback: started.ID + "/" + started.RunID, Findings: reasons}, nil
}

// deployBackups are the backups the guard's start names (GuardRequest.Backups, which
// anyone who may start a workflow can write) that their markers show Rewind's backup of
// this stack took for this deploy, shortly before the guard began; refused are the others,
// each with why. Only those are named as the deploy's or pinned: a pinned backup is
// restored without the usual skips (failed drills), at P1 without approval when the stack
// allows it. Guards started before the check pin what they were told.
func (g *guard) deployBackups() (verified, refused []string) {
	if len(g.req.Backups) == 0 {
		return nil, nil
	}
	if workflow.GetVersion(g.ctx, guardChecksDeployBackups, workflow.DefaultVersion, 1) < 1 {
		return g.req.Backups, nil
	}
	t := g.plan.Target
	var patterns []string
	for _, v := range t.Volumes {
		patterns = append(patterns, v.Pattern)
	}
	ctx := workflow.WithActivityOptions(g.ctx, onHost(g.plan, "read the markers of the deploy's backups — "+g.req.Stack, time.Minute, &temporal.RetryPolicy{MaximumAttempts: 3}))
	var b *backup.Activities
	var read []backup.MarkerRead
	if err := workflow.ExecuteActivity(ctx, b.ReadMarkers, backup.MarkersInput{Location: t.Backups.Location(), Patterns: patterns, Names: g.req.Backups}).Get(ctx, &read); err != nil {
		for _, name := range g.req.Backups {
			refused = append(refused, fmt.Sprintf("%s (its marker could not be read: %s)", name, message(err)))
		}
		return nil, refused
	}
	began := g.state.Began
	if began.IsZero() {
		began = workflow.GetInfo(g.ctx).WorkflowStartTime
	}
	for _, name := range g.req.Backups {
		why := "its marker was not read"
		if i := slices.IndexFunc(read, func(r backup.MarkerRead) bool { return r.Name == name }); i >= 0 {
			why = deployBackupProblem(read[i], g.req.Stack, g.req.Version, began)
		}
		if why != "" {
			refused = append(refused, fmt.Sprintf("%s (%s)", name, why))
			continue
		}
		verified = append(verified, name)
	}
	return verified, refused
}

// guardChecksDeployBackups versions the guard that checks the backups its start names
// before it pins one; guards started before it replay as they ran.
const guardChecksDeployBackups = "guard-checks-deploy-backups"

// deployBackupWithin is how long before the guard began the deploy's backup may have been
// taken: `rewind deployed` takes it, runs the deploy command, then starts the guard.
const deployBackupWithin = time.Hour

// deployBackupProblem says why a marker does not show the backup was taken by the stack's
// backup workflow for this deploy, shortly before the guard began; "" when it does.
func deployBackupProblem(r backup.MarkerRead, stack, version string, began time.Time) string {
	m := r.Marker
	switch {
	case r.Problem != "":
		return r.Problem
	case m.Workflow != api.BackupWorkflowID(stack):
		return fmt.Sprintf("its marker says workflow %q wrote it, not the stack's backup %s", m.Workflow, api.BackupWorkflowID(stack))
	case m.Reason != backups.DeployReason(version):
		return fmt.Sprintf("its marker's reason is %q, not %q", m.Reason, backups.DeployReason(version))
	case m.At.After(began.Add(time.Minute)):
		return fmt.Sprintf("taken at %s, after the guard began at %s", m.At.UTC().Format(time.RFC3339), began.UTC().Format(time.RFC3339))
	case m.At.Before(began.Add(-deployBackupWithin)):
		return fmt.Sprintf("taken at %s, more than %s before the guard began at %s", m.At.UTC().Format(time.RFC3339), deployBackupWithin, began.UTC().Format(time.RFC3339))
	}
	return ""
}

// failed ends a guard that found trouble but could not act on it, and tells people.
func (g *guard) failed(why string, fired []finding) (api.GuardResult, error) {
	var reasons []string
	for _, f := range fired {
		reasons = append(reasons, f.String())
	}
	msg := fmt.Sprintf("guard of %s found %s but %s: roll back by hand", g.req.Stack, strings.Join(reasons, ", "), why)
	g.notify(notify.Event{Kind: notify.KindFailed, Outcome: "guard could not act", Detail: msg})
	if g.lasting {
		g.settle()
	}
	g.track.end("failed", msg)
	return api.GuardResult{}, temporal.NewNonRetryableApplicationError(msg, failure.GuardCouldNotAct, nil)
}

// quiet ends a guard whose window passed with nothing to act on.
func (g *guard) quiet() api.GuardResult {
	if g.lasting {
		g.settle()
		if g.state.Acted != "" {
			outcome := fmt.Sprintf("%s; held to the end of the window (%d samples): the guard acts once, a person starts the next", g.state.Outcome, g.state.Samples)
			g.track.end(outcome, "")
			return api.GuardResult{Outcome: outcome, Rollback: g.state.Acted, Findings: g.state.Counted}
		}
	}
	for i := range g.track.progress.Steps {
		if s := &g.track.progress.Steps[i]; s.State == api.StateRunning {
			s.State = api.StateDone
		}
	}
	outcome := fmt.Sprintf("quiet: %d samples over %s found nothing to act on", g.state.Samples, g.window)
	if len(g.state.Recorded) > 0 {
		outcome += " (minor: " + strings.Join(g.state.Recorded, ", ") + ")"
	}
	g.track.end(outcome, "")
	return api.GuardResult{Outcome: outcome, Findings: g.state.Recorded}
}

// notice records something people should see in the guard's progress.
func (g *guard) notice(what string) {
	g.track.progress.Decisions = append(g.track.progress.Decisions, api.DecisionRecord{At: workflow.Now(g.ctx), Reason: what})
	g.track.publish()
}

func (g *guard) notify(ev notify.Event) {
	var n *notify.Activities
	info := workflow.GetInfo(g.ctx).WorkflowExecution
	ev.RunKey, ev.WorkflowID, ev.Stack, ev.Option, ev.Requester = info.ID+"/"+info.RunID, info.ID, g.req.Stack, "guard", g.req.Requester
	ctx := anyWorker(g.ctx, "", 2*time.Minute)
	_ = workflow.ExecuteActivity(ctx, n.Notify, ev).Get(ctx, nil)
}

// label is a criterion's line in the guard's checklist, with its window when it has one.
func (g *guard) label(c config.Criterion) string {
	if !g.lasting || c.Samples(g.interval) == 1 {
		return label(c)
	}
	return label(c) + " for " + c.Window()
}

// criterionLine is a criterion's line of the checklist, added as the guard starts: a
// guard's lines are its criteria, which only the worker's configuration names.
func (g *guard) criterionLine(key string) *api.Step {
	if s, err := g.track.line(key); err == nil {
		return s
	}
	return g.track.add(key)
}

// run is a criterion's run of samples above its limit, in the guard's state.
func (g *guard) run(key string) *api.CriterionRun {
	for i := range g.state.Runs {
		if g.state.Runs[i].Criterion == key {
			return &g.state.Runs[i]
		}
	}
	g.state.Runs = append(g.state.Runs, api.CriterionRun{Criterion: key})
	return &g.state.Runs[len(g.state.Runs)-1]
}

// judgeLasting measures a sample against every criterion and returns those that have held
// above their limit for their window, in samples in a row, most severe first; each
// criterion's line says how far along its window it is ("2 of 5 samples over the limit").
// A sample that does not know a measure leaves its run as it was.
func (g *guard) judgeLasting(s GuardSample) []finding {
	st := g.state
	values := measure(st, s, g.plan.Target.Guard, g.plan.Target.Checks.DataQuery != "")
	var fired []finding
	for _, c := range g.criteria {
		key := g.label(c)
		run, step := g.run(key), g.criterionLine(key)
		held := false
		if v, known := values[c.Measure]; known {
			if v > c.Above {
				if run.Count == 0 {
					run.Since, run.Series = s.At, nil
				}
				run.Count++
				run.Series = append(run.Series, api.Point{At: s.At, Value: v})
				if len(run.Series) > seriesPoints {
					run.Series = run.Series[len(run.Series)-seriesPoints:]
				}
			} else {
				run.Count, run.Since, run.Series = 0, time.Time{}, nil
			}
			run.Last, run.Known = v, true
			if run.Count >= c.Samples(g.interval) && s.At.Sub(run.Since) >= c.For {
				fired, held = append(fired, finding{Criterion: c, Value: v, Count: run.Count, Series: slices.Clone(run.Series)}), true
			}
		}
		step.Detail = g.describe(c, *run)
		if held || slices.Contains(st.Counted, key) {
			step.State = api.StateFailed
		}
	}
	g.track.progress.Summary = fmt.Sprintf("guard of %s %s: sample %d, every %s until %s", g.req.Stack, g.req.Version, st.Samples, g.interval, st.Until.Format(time.TimeOnly))
	g.track.progress.Phase = "watching"
	if st.Acted != "" {
		g.track.progress.Summary += "; acted once (" + st.Acted + "), holding"
		g.track.progress.Phase = "holding"
	}
	g.track.publish()
	return fired
}

// describe says where a criterion stands: its value now and, when it must hold for a
// window, how many of the samples it needs are over the limit.
func (g *guard) describe(c config.Criterion, run api.CriterionRun) string {
	if !run.Known {
		return "not measured yet"
	}
	now := formatMeasure(c.Measure, run.Last)
	need := c.Samples(g.interval)
	switch {
	case need == 1 && run.Count > 0:
		return fmt.Sprintf("%s at %s, over the limit", now, run.Series[len(run.Series)-1].At.Format(time.TimeOnly))
	case need == 1:
		return "now " + now
	case run.Count >= need:
		return fmt.Sprintf("%d samples in a row over the limit since %s (needs %d over %s), now %s", run.Count, run.Since.Format(time.TimeOnly), need, c.Window(), now)
	}
	return fmt.Sprintf("%d of %d samples over the limit, now %s", run.Count, need, now)
}

// onFindings acts on the criteria that held for their windows: the first time, a critical
// one starts the configured rollback at P1 (a full one, which restores a backup over the
// data, is proposed at P2 unless the stack's config says it may start it), a major one
// proposes it at P2, a minor one is recorded; after it acted, the guard holds: it records
// what it sees and acts again only when a person starts a new guard. done says the guard
// ends, with res and err.
func (g *guard) onFindings(fired []finding, s GuardSample) (res api.GuardResult, done bool, err error) {
	st := g.state
	var fresh []finding
	for _, f := range fired {
		if key := g.label(f.Criterion); !slices.Contains(st.Counted, key) {
			st.Counted = append(st.Counted, key)
			fresh = append(fresh, f)
		}
	}
	if len(fired) == 0 {
		return api.GuardResult{}, false, nil
	}
	worst := fired[0]
	severity := ""
	switch worst.Class {
	case config.ClassCritical:
		severity = "P1"
		if guard := g.plan.Target.Guard; guard.Option == api.OptionFull && !guard.RestoreWithoutApproval {
			severity = "P2"
		}
	case config.ClassMajor:
		severity = "P2"
	}
	if st.Acted != "" || severity == "" {
		for _, f := range fresh {
			switch {
			case st.Acted != "":
				g.notice(fmt.Sprintf("held at %s: %s; the guard acted once (%s) and acts again only when a person starts a new guard (rewind deployed or rewind guard)", s.At.Format(time.TimeOnly), f, st.Acted))
			case !slices.Contains(st.Recorded, f.Measure):
				st.Recorded = append(st.Recorded, f.Measure)
				g.notice(fmt.Sprintf("minor at %s: %s", s.At.Format(time.TimeOnly), f))
			}
		}
		return api.GuardResult{}, false, nil
	}
	res, err = g.act(severity, worst, fired, s)
	if err != nil {
		return res, true, err
	}
	st.Acted, st.Outcome = res.Rollback, res.Outcome
	g.notice(res.Outcome)
	return res, false, nil
}

// rollbackClosed ends a guard whose rollback closed, saying how.
func (g *guard) rollbackClosed(err error) api.GuardResult {
	g.settle()
	how := "the rollback completed"
	if err != nil {
		how = "the rollback ended: " + message(err)
	}
	outcome := g.state.Outcome + "; " + how
	g.track.end(outcome, "")
	return api.GuardResult{Outcome: outcome, Rollback: g.state.Acted, Findings: g.state.Counted}
}

// settle leaves each criterion's final state when the guard ends: failed when it counted,
// done when it never held for its window, with where it stood last.
func (g *guard) settle() {
	for _, c := range g.criteria {
		key := g.label(c)
		step := g.criterionLine(key)
		run := g.run(key)
		if slices.Contains(g.state.Counted, key) {
			step.State = api.StateFailed
			if run.Count > 0 {
				step.Detail = "counted: " + g.describe(c, *run)
			} else {
				step.Detail = "counted, then back under the limit: now " + formatMeasure(c.Measure, run.Last)
			}
			continue
		}
		step.State = api.StateDone
		step.Detail = "did not hold for its window: " + g.describe(c, *run)
		if c.Samples(g.interval) == 1 || !run.Known {
			step.Detail = "within the limit: " + g.describe(c, *run)
		}
	}
}
