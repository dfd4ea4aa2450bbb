package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// tracker keeps the checklist of one rollback and publishes it wherever people look: the
// progress query, the Web UI's current details and the RewindPhase search attribute.
type tracker struct {
	ctx      workflow.Context
	progress api.Progress
	// phase is the RewindPhase last written.
	phase string
}

func newTracker(ctx workflow.Context, summary string, steps ...string) (*tracker, error) {
	t := &tracker{ctx: ctx, progress: api.Progress{Summary: summary, Phase: "starting"}}
	for _, s := range steps {
		t.progress.Steps = append(t.progress.Steps, api.Step{Name: s, State: api.StatePending})
	}
	if err := workflow.SetQueryHandler(ctx, api.ProgressQuery, func() (api.Progress, error) {
		return t.progress, nil
	}); err != nil {
		return nil, fmt.Errorf("register progress query: %w", err)
	}
	t.publish()
	return t, nil
}

// add appends a line the run learns of only as it goes (a group's stacks, a guard's
// criteria, the put-back of a failed rollback); an option's lines come from its table.
func (t *tracker) add(name string) *api.Step {
	t.progress.Steps = append(t.progress.Steps, api.Step{Name: name, State: api.StatePending})
	return &t.progress.Steps[len(t.progress.Steps)-1]
}

// line is the checklist's line of a step; a step the checklist does not list is refused,
// so a step cannot run without people seeing it.
func (t *tracker) line(name string) (*api.Step, error) {
	for i := range t.progress.Steps {
		if t.progress.Steps[i].Name == name {
			return &t.progress.Steps[i], nil
		}
	}
	return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the checklist has no step %q", name), failure.UnknownStep, nil)
}

func (t *tracker) start(name string) error {
	s, err := t.line(name)
	if err != nil {
		return err
	}
	s.State = api.StateRunning
	s.Started = workflow.Now(t.ctx)
	t.progress.Phase = name
	t.publish()
	return nil
}

func (t *tracker) finish(name, state, detail string) error {
	s, err := t.line(name)
	if err != nil {
		return err
	}
	s.State = state
	s.Detail = detail
	s.Finished = workflow.Now(t.ctx)
	t.publish()
	return nil
}

// waiting marks a step as waiting for people, with what they wait on.
func (t *tracker) waiting(name, detail string, g *api.Gate) error {
	s, err := t.line(name)
	if err != nil {
		return err
	}
	s.State, s.Detail = api.StateWaiting, detail
	t.progress.Phase, t.progress.Gate = "waiting for approval", g
	t.publish()
	return nil
}

// detail says, on a line, how its step goes, before the step ends.
func (t *tracker) detail(name, detail string) error {
	s, err := t.line(name)
	if err != nil {
		return err
	}
	s.Detail = detail
	t.publish()
	return nil
}

// current is the step running now, for naming the activities it runs.
func (t *tracker) current() string { return t.progress.Phase }

func (t *tracker) end(outcome, notice string) {
	t.progress.Phase = outcome
	t.progress.Outcome = outcome
	t.progress.Notice = notice
	t.publish()
}

func (t *tracker) publish() {
	workflow.SetCurrentDetails(t.ctx, t.progress.Markdown())
	if t.progress.Phase == t.phase {
		return
	}
	t.phase = t.progress.Phase
	// Phase is for filtering only; a failed upsert must not fail the rollback.
	_ = workflow.UpsertTypedSearchAttributes(t.ctx, api.PhaseKey.ValueSet(t.progress.Phase))
}
