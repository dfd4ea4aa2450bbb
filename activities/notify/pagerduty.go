package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/PagerDuty/go-pagerduty"
)

// PagerDuty Events API v2 actions.
const (
	pdTrigger     = "trigger"
	pdAcknowledge = "acknowledge"
	pdResolve     = "resolve"
)

// pagerDuty keeps one incident per rollback run (dedup key = RunKey): it pages on failure,
// emergency stop and escalation, is acknowledged when someone decides (a person has
// answered) and resolved when the rollback finishes. Other events stay out of PagerDuty.
type pagerDuty struct {
	client     *pagerduty.Client
	routingKey string
}

func newPagerDuty(c PagerDutyConfig, hc *http.Client) *pagerDuty {
	// The Events API authenticates by the routing key in the body; the client's token
	// is for the REST API, unused here.
	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(c.Endpoint))
	client.HTTPClient = hc
	return &pagerDuty{client: client, routingKey: c.RoutingKey}
}

func (p *pagerDuty) name() string { return "pagerduty" }

func (p *pagerDuty) accepts(k Kind) bool { return pdAction(k) != "" }

// pdAction is what an event does to the run's incident; "" leaves it alone.
func pdAction(k Kind) string {
	switch k {
	case KindFailed, KindEmergencyStop, KindEscalated:
		return pdTrigger
	case KindDecided:
		return pdAcknowledge
	case KindFinished:
		return pdResolve
	}
	return ""
}

// pdSeverity maps the rollback's severity to PagerDuty's. An emergency stop is always
// critical, and an unknown severity pages loudly rather than quietly.
func pdSeverity(ev Event) string {
	if ev.Kind == KindEmergencyStop {
		return "critical"
	}
	switch ev.Severity {
	case "P2":
		return "error"
	case "P3":
		return "warning"
	}
	return "critical"
}

func (p *pagerDuty) deliver(ctx context.Context, ev Event) (SlackMessage, error) {
	event := pagerduty.V2Event{
		RoutingKey: p.routingKey,
		Action:     pdAction(ev.Kind),
		DedupKey:   ev.RunKey,
	}
	if event.Action == pdTrigger {
		event.Client = "Rewind"
		event.ClientURL = ev.UILink
		if ev.UILink != "" {
			event.Links = []any{map[string]string{"href": ev.UILink, "text": "Temporal Web UI"}}
		}
		source := ev.Stack
		if source == "" {
			source = "rewind"
		}
		event.Payload = &pagerduty.V2Payload{
			Summary:   truncate(pdSummary(ev), 1024),
			Source:    source,
			Severity:  pdSeverity(ev),
			Component: ev.Option,
			Group:     ev.Stack,
			Class:     string(ev.Kind),
			Details:   pdDetails(ev),
		}
	}
	if _, err := p.client.ManageEventWithContext(ctx, &event); err != nil {
		err = fmt.Errorf("send %s to pagerduty: %w", event.Action, err)
		if apiErr, ok := errors.AsType[pagerduty.APIError](err); ok && !retryableStatus(apiErr.StatusCode) {
			return SlackMessage{}, permanent(err)
		}
		return SlackMessage{}, err
	}
	return SlackMessage{}, nil
}

// pdSummary is the incident title on the responder's phone.
func pdSummary(ev Event) string {
	_, st := state(ev)
	summary := fmt.Sprintf("Rewind: %s rollback of %s", ev.Severity, ev.Stack)
	if ev.Option != "" {
		summary += " (" + ev.Option + ")"
	}
	summary += " " + st
	switch {
	case awaitsApproval(ev.Kind) && ev.ApproveCommand != "":
		summary += ": " + ev.ApproveCommand
	case ev.Detail != "":
		summary += ": " + ev.Detail
	}
	return summary
}

// pdDetails are the incident's custom details: the whole event but its Slack bookkeeping.
func pdDetails(ev Event) map[string]any {
	details := map[string]any{}
	for key, value := range map[string]string{
		"workflow_id": ev.WorkflowID, "run_key": ev.RunKey, "stack": ev.Stack, "option": ev.Option,
		"severity": ev.Severity, "requester": ev.Requester, "reason": ev.Reason,
		"backup": ev.Backup, "backup_sha256": ev.BackupSHA256, "approver_role": ev.ApproverRole,
		"approve_command": ev.ApproveCommand, "ui_link": ev.UILink, "outcome": ev.Outcome, "detail": ev.Detail,
	} {
		if value != "" {
			details[key] = value
		}
	}
	if len(ev.Approvers) > 0 {
		details["approvers"] = ev.Approvers
	}
	if ev.Decision.By != "" {
		details["decision"] = ev.Decision
	}
	return details
}
