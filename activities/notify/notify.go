// Package notify tells people about a rollback while it happens, so they can act on it at
// 3 a.m.: one Slack message per rollback updated in place (or a message per event through
// an incoming webhook), one PagerDuty incident per run that pages on failure, emergency
// stop and escalation and resolves when the rollback finishes, a plain JSON webhook, and
// the worker's log always.
//
// Events and results are stored in Temporal history and shown in the Web UI, so they hold
// no secrets, and every backend error is redacted before it is logged or returned.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
)

// logBackend is the name of the worker's log in Result.Delivered.
const logBackend = "worker log"

// backend is one place notifications go.
type backend interface {
	// name is how Result names the backend.
	name() string
	// accepts says whether events of kind k go to this backend at all.
	accepts(k Kind) bool
	// deliver sends ev once (Notify retries) and returns the Slack message it posted or
	// updated, if any.
	deliver(ctx context.Context, ev Event) (SlackMessage, error)
}

// permanentError marks a refusal another attempt will not change (a bad token, an unknown
// channel, a malformed event), so Notify does not retry it.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err: err} }

func isPermanent(err error) bool {
	_, ok := errors.AsType[permanentError](err)
	return ok
}

// Activities delivers notifications to the backends New built from a Config. The zero
// value only logs, so workflow tests can register it as it is.
//
// Notify and Send are its only exported methods: Temporal registers every exported method
// of the struct as an activity.
type Activities struct {
	backends []backend
	attempts int
	backoff  time.Duration
	// secrets are redacted from every error before it is logged or returned.
	secrets []string
}

// New checks cfg and builds the backends it names. An empty Config only logs.
func New(cfg Config) (*Activities, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("check notify config: %w", err)
	}
	cfg = cfg.withDefaults()
	a := &Activities{attempts: cfg.Attempts, backoff: cfg.Backoff, secrets: cfg.secrets()}
	switch {
	case cfg.Slack.BotToken != "":
		a.backends = append(a.backends, newSlackBot(cfg.Slack, cfg.HTTP))
	case cfg.Slack.WebhookURL != "":
		a.backends = append(a.backends, &slackWebhook{url: cfg.Slack.WebhookURL, http: cfg.HTTP})
	}
	if cfg.PagerDuty.RoutingKey != "" {
		a.backends = append(a.backends, newPagerDuty(cfg.PagerDuty, cfg.HTTP))
	}
	if cfg.Webhook.URL != "" {
		a.backends = append(a.backends, &jsonWebhook{url: cfg.Webhook.URL, http: cfg.HTTP})
	}
	return a, nil
}

// Notify logs ev and delivers it to every configured backend at once.
//
// A notification that cannot be delivered never fails the rollback: each backend is tried
// up to Config.Attempts times within this call (with a short, cancellable backoff, and no
// retry of a refusal that will not change), then given up on. Notify returns a Result that
// names each failure, redacted, and a nil error. Failing the activity instead would make
// Temporal post again to the backends that did work, or stop a rollback for a chat outage.
//
// Pass Result.SlackMessage in the run's next Event so the same Slack message is updated.
func (a *Activities) Notify(ctx context.Context, ev Event) (Result, error) {
	logger := activity.GetLogger(ctx)
	ev = withRunDefaults(ctx, ev)
	logger.Info(headline(ev), eventKeyvals(ev)...)

	outcomes := make([]outcome, len(a.backends))
	var wg sync.WaitGroup
	for i, b := range a.backends {
		if b.accepts(ev.Kind) {
			wg.Go(func() { outcomes[i] = a.deliver(ctx, logger, b, ev) })
		}
	}
	wg.Wait()

	res := Result{Delivered: []string{logBackend}, SlackMessage: ev.SlackMessage}
	for i, o := range outcomes {
		name := a.backends[i].name()
		switch {
		case !o.attempted:
		case o.err != nil:
			res.Failed = append(res.Failed, name+": "+o.err.Error())
			logger.Error("notification not delivered", "backend", name, "kind", ev.Kind, "run", ev.RunKey, "error", o.err)
		default:
			res.Delivered = append(res.Delivered, name)
			if o.slack.TS != "" {
				res.SlackMessage = o.slack
			}
		}
	}
	return res, nil
}

// Send is the activity of older workflows still in flight: it delivers m as a notice
// through the same backends (PagerDuty takes no notices) and, like Notify, never fails.
func (a *Activities) Send(ctx context.Context, m Message) (Result, error) {
	return a.Notify(ctx, Event{Kind: KindNotice, Subject: m.Subject, Detail: m.Text})
}

// outcome is how one backend took one event.
type outcome struct {
	attempted bool
	slack     SlackMessage
	err       error // redacted
}

// deliver tries b until it takes ev, refuses for good, runs out of attempts or ctx ends.
func (a *Activities) deliver(ctx context.Context, logger log.Logger, b backend, ev Event) outcome {
	pause := a.backoff
	for attempt := 1; ; attempt++ {
		msg, err := b.deliver(ctx, ev)
		if err == nil {
			return outcome{attempted: true, slack: msg}
		}
		last := attempt >= a.attempts || isPermanent(err)
		err = Redact(err, a.secrets...)
		if last {
			return outcome{attempted: true, err: err}
		}
		logger.Warn("notification attempt failed", "backend", b.name(), "attempt", attempt, "error", err)
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return outcome{attempted: true, err: fmt.Errorf("%w (gave up: %v)", err, ctx.Err())}
		case <-timer.C:
		}
		pause *= 2
	}
}

// withRunDefaults fills what the event left to the calling workflow.
func withRunDefaults(ctx context.Context, ev Event) Event {
	run := activity.GetInfo(ctx).WorkflowExecution
	if ev.WorkflowID == "" {
		ev.WorkflowID = run.ID
	}
	if ev.RunKey == "" && run.ID != "" {
		ev.RunKey = run.ID + "/" + run.RunID
	}
	if ev.ApproveCommand == "" && awaitsApproval(ev.Kind) && ev.WorkflowID != "" {
		ev.ApproveCommand = ApproveCommand(ev.WorkflowID)
	}
	return ev
}

// eventKeyvals are the event's non-empty fields for the worker's log.
func eventKeyvals(ev Event) []any {
	kv := []any{"kind", string(ev.Kind), "run", ev.RunKey}
	for _, f := range []struct{ key, value string }{
		{"stack", ev.Stack}, {"option", ev.Option}, {"severity", ev.Severity},
		{"requester", ev.Requester}, {"reason", ev.Reason}, {"backup", ev.Backup},
		{"backup_sha256", shortSHA(ev.BackupSHA256)}, {"approver_role", ev.ApproverRole},
		{"approve_command", ev.ApproveCommand}, {"ui", ev.UILink}, {"outcome", ev.Outcome},
		{"detail", ev.Detail}, {"subject", ev.Subject},
	} {
		if f.value != "" {
			kv = append(kv, f.key, f.value)
		}
	}
	if len(ev.Approvers) > 0 {
		kv = append(kv, "approvers", ev.Approvers)
	}
	if ev.Decision.By != "" {
		kv = append(kv, "decision", ev.Decision.Verdict+" by "+ev.Decision.By)
	}
	return kv
}

// Summary says where a notification went, as a checklist line: "delivered to slack,
// worker log; not delivered: pagerduty: ...".
func (r Result) Summary() string {
	out := "delivered to " + strings.Join(r.Delivered, ", ")
	if len(r.Failed) > 0 {
		out += "; not delivered: " + strings.Join(r.Failed, "; ")
	}
	return out
}
