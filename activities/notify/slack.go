package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"
)

// Slack's limits on block text, in characters.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
)

// slackBot posts one message per rollback with chat.postMessage and updates it with
// chat.update as the rollback moves.
type slackBot struct {
	client  *slack.Client
	channel string
	buttons bool
}

func newSlackBot(c SlackConfig, hc *http.Client) *slackBot {
	return &slackBot{
		client:  slack.New(c.BotToken, slack.OptionHTTPClient(hc), slack.OptionAPIURL(c.APIURL)),
		channel: c.Channel,
		buttons: c.Buttons,
	}
}

func (s *slackBot) name() string      { return "slack" }
func (s *slackBot) accepts(Kind) bool { return true }

func (s *slackBot) deliver(ctx context.Context, ev Event) (SlackMessage, error) {
	content := []slack.MsgOption{
		slack.MsgOptionText(fallbackText(ev), false),
		slack.MsgOptionBlocks(append(slackBlocks(ev), s.decisionBlocks(ev)...)...),
	}
	if ev.SlackMessage.TS == "" {
		return s.post(ctx, content)
	}
	msg := ev.SlackMessage
	if _, _, _, err := s.client.UpdateMessageContext(ctx, msg.Channel, msg.TS, content...); err != nil {
		if !messageGone(err) {
			return SlackMessage{}, slackError("update slack message", err)
		}
		// Deleted or too old to edit: a new message still tells people.
		return s.post(ctx, content)
	}
	if needsAttention(ev.Kind) {
		// An edit notifies nobody; a reply broadcast to the channel does.
		_, _, err := s.client.PostMessageContext(ctx, msg.Channel,
			slack.MsgOptionText(fallbackText(ev), false), slack.MsgOptionTS(msg.TS), slack.MsgOptionBroadcast())
		if err != nil {
			return SlackMessage{}, slackError("reply in slack thread", err)
		}
	}
	return msg, nil
}

func (s *slackBot) post(ctx context.Context, content []slack.MsgOption) (SlackMessage, error) {
	channel, ts, err := s.client.PostMessageContext(ctx, s.channel, content...)
	if err != nil {
		return SlackMessage{}, slackError("post slack message", err)
	}
	return SlackMessage{Channel: channel, TS: ts}, nil
}

// messageGone says whether chat.update refused because the message cannot be edited any more.
func messageGone(err error) bool {
	apiErr, ok := errors.AsType[slack.SlackErrorResponse](err)
	if !ok {
		return false
	}
	switch apiErr.Err {
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return true
	}
	return false
}

// Block and action IDs of an approval message's controls, as the Slack bridge reads them
// back from a click. A button's value is the event's RunKey (workflowID/runID).
const (
	SlackReasonBlock   = "rewind_reason"
	SlackReasonInput   = "rewind_reason_input"
	SlackDecideBlock   = "rewind_decide"
	SlackApproveAction = "rewind_approve"
	SlackRejectAction  = "rewind_reject"
)

// decisionBlocks are the reason field and the Approve and Reject buttons of a message that
// awaits a decision; none once it is decided, so the message updated in place has no
// buttons left to click.
func (s *slackBot) decisionBlocks(ev Event) []slack.Block {
	if !s.buttons || !awaitsApproval(ev.Kind) || ev.RunKey == "" {
		return nil
	}
	reason := slack.NewInputBlock(SlackReasonBlock,
		slack.NewTextBlockObject(slack.PlainTextType, "Reason (needed to reject)", false, false), nil,
		slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, "why, for the incident record", false, false), SlackReasonInput))
	reason.Optional = true
	approve := slack.NewButtonBlockElement(SlackApproveAction, ev.RunKey, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary)
	reject := slack.NewButtonBlockElement(SlackRejectAction, ev.RunKey, slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false)).WithStyle(slack.StyleDanger)
	return []slack.Block{reason, slack.NewActionBlock(SlackDecideBlock, approve, reject)}
}

// slackWebhook posts every event as a new message to an incoming webhook, which cannot
// update what it posted.
type slackWebhook struct {
	url  string
	http *http.Client
}

func (s *slackWebhook) name() string      { return "slack" }
func (s *slackWebhook) accepts(Kind) bool { return true }

func (s *slackWebhook) deliver(ctx context.Context, ev Event) (SlackMessage, error) {
	msg := &slack.WebhookMessage{Text: fallbackText(ev), Blocks: &slack.Blocks{BlockSet: slackBlocks(ev)}}
	// The CustomHTTP variant of slack.PostWebhookContext, so Config.HTTP applies.
	if err := slack.PostWebhookCustomHTTPContext(ctx, s.url, s.http, msg); err != nil {
		return SlackMessage{}, slackError("post to slack webhook", err)
	}
	return SlackMessage{}, nil
}

// slackError wraps err, marking refusals another attempt will not change as permanent.
func slackError(doing string, err error) error {
	err = fmt.Errorf("%s: %w", doing, err)
	if statusErr, ok := errors.AsType[slack.StatusCodeError](err); ok && !statusErr.Retryable() {
		return permanent(err)
	}
	if apiErr, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		switch apiErr.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return err
		}
		return permanent(err) // invalid_auth, channel_not_found, not_in_channel…
	}
	return err
}

// slackBlocks is the Block Kit message of an event: what, who asked and why, which backup,
// who may approve and how, the state, and the Web UI link.
func slackBlocks(ev Event) []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(headline(ev), slackHeaderMax), true, false)),
	}
	var fields []*slack.TextBlockObject
	for _, f := range []struct{ label, value string }{
		{"Stack", ev.Stack}, {"Option", ev.Option}, {"Severity", ev.Severity}, {"Requested by", ev.Requester},
	} {
		if f.value != "" {
			fields = append(fields, markdown(truncate("*"+f.label+"*\n"+escape(f.value), slackFieldMax)))
		}
	}
	if len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	add := func(text string) {
		blocks = append(blocks, slack.NewSectionBlock(markdown(truncate(text, slackSectionMax)), nil, nil))
	}
	if ev.Kind == KindNotice && ev.Detail != "" {
		add(escape(ev.Detail))
	}
	if ev.Reason != "" {
		add("*Why:* " + escape(ev.Reason))
	}
	if ev.Backup != "" {
		backup := "*Backup:* `" + escape(ev.Backup) + "`"
		if ev.BackupSHA256 != "" {
			backup += " (sha256 `" + escape(shortSHA(ev.BackupSHA256)) + "`)"
		}
		add(backup)
	}
	if awaitsApproval(ev.Kind) {
		if who := approvers(ev); who != "" {
			add("*Who may approve:* " + escape(who))
		}
		if ev.ApproveCommand != "" {
			add("*To approve:*\n```" + escape(ev.ApproveCommand) + "```")
		}
	}
	if ev.Decision.By != "" && ev.Kind != KindDecided {
		add("*Decision:* " + escape(ev.Decision.Verdict+" by "+ev.Decision.By))
	}
	if ev.Decision.Proof != "" {
		add("*Proven by:* `" + escape(ev.Decision.Proof) + "`")
	}
	if !ev.Deadline.IsZero() && awaitsApproval(ev.Kind) {
		add(fmt.Sprintf("*Decide by:* <!date^%d^{date_short_pretty} {time}|%s>", ev.Deadline.Unix(), ev.Deadline.UTC().Format("2006-01-02 15:04 MST")))
	}
	if ev.Decision.Note != "" {
		add("*Decision note:* " + escape(ev.Decision.Note))
	}
	if ev.Outcome != "" {
		add("*Outcome:* " + escape(ev.Outcome))
	}
	if ev.Detail != "" && ev.Kind != KindNotice {
		add("*Details:* " + escape(ev.Detail))
	}
	var footer []slack.MixedElement
	if link := slackLink(ev.UILink, "Open in Temporal Web UI"); link != "" {
		footer = append(footer, markdown(link))
	}
	if ev.WorkflowID != "" {
		footer = append(footer, markdown("workflow `"+escape(ev.WorkflowID)+"`"))
	}
	if len(footer) > 0 {
		blocks = append(blocks, slack.NewContextBlock("", footer...))
	}
	return blocks
}

// fallbackText is the message's plain text: what phone notifications and screen readers show.
func fallbackText(ev Event) string {
	text := escape(headline(ev))
	if ev.Kind == KindNotice && ev.Detail != "" {
		text += "\n" + escape(ev.Detail)
	}
	if awaitsApproval(ev.Kind) && ev.ApproveCommand != "" {
		text += "\nApprove: `" + escape(ev.ApproveCommand) + "`"
		if who := approvers(ev); who != "" {
			text += " (" + escape(who) + ")"
		}
	}
	if (ev.Kind == KindFailed || ev.Kind == KindEmergencyStop) && ev.Detail != "" {
		text += "\n" + escape(ev.Detail)
	}
	if link := slackLink(ev.UILink, "Web UI"); link != "" {
		text += "\n" + link
	}
	return truncate(text, slackSectionMax)
}

// approvers is "role: name, name".
func approvers(ev Event) string {
	names := strings.Join(ev.Approvers, ", ")
	switch {
	case ev.ApproverRole != "" && names != "":
		return ev.ApproverRole + ": " + names
	case ev.ApproverRole != "":
		return "any " + ev.ApproverRole
	}
	return names
}

// slackLink is a mrkdwn link to an http(s) URL, or "" for anything else.
func slackLink(raw, label string) string {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return "<" + escape(raw) + "|" + label + ">"
}

func markdown(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, false)
}

// escape keeps text people typed (a reason, a detail) from becoming Slack mentions or links.
func escape(text string) string { return slackutilsx.EscapeMessage(text) }
