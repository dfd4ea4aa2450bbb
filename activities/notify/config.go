package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Defaults New fills in.
const (
	DefaultAttempts          = 3
	DefaultBackoff           = 250 * time.Millisecond
	DefaultHTTPTimeout       = 10 * time.Second
	DefaultPagerDutyEndpoint = "https://events.pagerduty.com"
)

// Config says where notifications go. The worker builds it from rewind.yaml, taking the
// secrets from the environment; it never travels through a workflow.
type Config struct {
	Slack     SlackConfig
	PagerDuty PagerDutyConfig
	Webhook   WebhookConfig
	// HTTP is the client of every backend; nil uses one with a DefaultHTTPTimeout timeout.
	HTTP *http.Client
	// Attempts is how many times each backend is tried per notification; 0 means
	// DefaultAttempts.
	Attempts int
	// Backoff is the pause after the first failed attempt, doubled after each; 0 means
	// DefaultBackoff.
	Backoff time.Duration
}

// SlackConfig is either an incoming webhook (one new message per event) or a bot token and
// channel (one message per rollback, updated in place).
type SlackConfig struct {
	// WebhookURL is an incoming webhook; its path is a secret. It always posts to the
	// channel it was created for.
	WebhookURL string
	// BotToken (xoxb-…) with Channel posts with chat.postMessage and updates with
	// chat.update. The bot must be a member of Channel.
	BotToken string
	Channel  string
	// APIURL is Slack's Web API base; empty means slack.APIURL. Tests point it at a stand-in.
	APIURL string
	// Buttons puts Approve and Reject buttons on messages that await a decision: set when
	// the worker takes clicks (Socket Mode or a signed interactions endpoint).
	Buttons bool
}

// PagerDutyConfig is an Events API v2 integration.
type PagerDutyConfig struct {
	// RoutingKey is the integration key of the service to page; a secret.
	RoutingKey string
	// Endpoint is the Events API base (scheme://host); empty means DefaultPagerDutyEndpoint.
	// EU accounts use https://events.eu.pagerduty.com.
	Endpoint string
}

// WebhookConfig is a plain JSON webhook that receives every Event.
type WebhookConfig struct {
	// URL may carry a token in its path or query; it is treated as a secret.
	URL string
}

// String shows which backends are set without their secrets, so logging a Config is safe.
func (c Config) String() string {
	return fmt.Sprintf("notify.Config{Slack:{WebhookURL:%s BotToken:%s Channel:%q APIURL:%q} PagerDuty:{RoutingKey:%s Endpoint:%q} Webhook:{URL:%s} Attempts:%d Backoff:%s}",
		setOrNot(c.Slack.WebhookURL), setOrNot(c.Slack.BotToken), c.Slack.Channel, c.Slack.APIURL,
		setOrNot(c.PagerDuty.RoutingKey), c.PagerDuty.Endpoint, setOrNot(c.Webhook.URL), c.Attempts, c.Backoff)
}

// GoString keeps %#v from printing secrets too.
func (c Config) GoString() string { return c.String() }

func setOrNot(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[set]"
}

// validate reports every mistake at once, naming the field and never echoing a secret.
func (c Config) validate() error {
	var problems []error
	if c.Slack.WebhookURL != "" {
		problems = append(problems, checkURL("Slack.WebhookURL", c.Slack.WebhookURL))
		if c.Slack.BotToken != "" {
			problems = append(problems, errors.New("Slack.WebhookURL and Slack.BotToken are both set: choose one"))
		}
		if c.Slack.Channel != "" && c.Slack.BotToken == "" {
			problems = append(problems, errors.New("Slack.Channel is set with Slack.WebhookURL: an incoming webhook always posts to the channel it was created for; remove Channel or use BotToken"))
		}
	}
	if c.Slack.BotToken != "" {
		problems = append(problems, checkSecret("Slack.BotToken", c.Slack.BotToken))
		if c.Slack.Channel == "" {
			problems = append(problems, errors.New("Slack.Channel is empty: a bot token needs the channel to post in"))
		}
	}
	if c.Slack.Channel != "" && c.Slack.WebhookURL == "" && c.Slack.BotToken == "" {
		problems = append(problems, errors.New("Slack.Channel is set without Slack.BotToken"))
	}
	if c.Slack.APIURL != "" {
		problems = append(problems, checkURL("Slack.APIURL", c.Slack.APIURL))
	}
	if c.PagerDuty.RoutingKey != "" {
		problems = append(problems, checkSecret("PagerDuty.RoutingKey", c.PagerDuty.RoutingKey))
	}
	if c.PagerDuty.Endpoint != "" {
		problems = append(problems, checkURL("PagerDuty.Endpoint", c.PagerDuty.Endpoint))
		if c.PagerDuty.RoutingKey == "" {
			problems = append(problems, errors.New("PagerDuty.Endpoint is set without PagerDuty.RoutingKey"))
		}
	}
	if c.Webhook.URL != "" {
		problems = append(problems, checkURL("Webhook.URL", c.Webhook.URL))
	}
	if c.Attempts < 0 {
		problems = append(problems, fmt.Errorf("Attempts is %d: want 0 (default %d) or more", c.Attempts, DefaultAttempts))
	}
	if c.Backoff < 0 {
		problems = append(problems, fmt.Errorf("Backoff is %s: want 0 (default %s) or more", c.Backoff, DefaultBackoff))
	}
	return errors.Join(problems...)
}

// checkURL accepts an absolute http(s) URL. The URL itself is never printed: it may hold a
// token.
func checkURL(field, raw string) error {
	if err := checkSecret(field, raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s is not an absolute http(s) URL", field)
	}
	return nil
}

// checkSecret catches the newline a secret file or `echo` leaves behind.
func checkSecret(field, value string) error {
	if value != strings.TrimSpace(value) {
		return fmt.Errorf("%s has leading or trailing whitespace (a newline from the secret file?)", field)
	}
	return nil
}

// withDefaults fills what the operator left empty.
func (c Config) withDefaults() Config {
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.Slack.APIURL == "" {
		c.Slack.APIURL = slack.APIURL
	}
	// slack-go joins the base and the method name without a slash.
	if !strings.HasSuffix(c.Slack.APIURL, "/") {
		c.Slack.APIURL += "/"
	}
	if c.PagerDuty.Endpoint == "" {
		c.PagerDuty.Endpoint = DefaultPagerDutyEndpoint
	}
	c.PagerDuty.Endpoint = strings.TrimSuffix(c.PagerDuty.Endpoint, "/")
	return c
}

// secrets lists every string of c that must not appear in an error, a result or a log.
func (c Config) secrets() []string {
	secrets := []string{c.Slack.BotToken, c.PagerDuty.RoutingKey}
	secrets = append(secrets, urlSecrets(c.Slack.WebhookURL)...)
	if u, err := url.Parse(c.Slack.WebhookURL); err == nil && c.Slack.WebhookURL != "" {
		// A Slack webhook's last path segment is its token, and may be quoted alone.
		segments := strings.Split(strings.Trim(u.Path, "/"), "/")
		secrets = append(secrets, segments[len(segments)-1])
	}
	secrets = append(secrets, urlSecrets(c.Webhook.URL)...)
	return secrets
}

// urlSecrets are the parts of a URL that can carry a token: the whole URL, its path, its
// query and its password.
func urlSecrets(raw string) []string {
	if raw == "" {
		return nil
	}
	secrets := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return secrets
	}
	if len(u.Path) > 1 {
		secrets = append(secrets, u.Path, u.EscapedPath())
	}
	secrets = append(secrets, u.RawQuery)
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw)
	}
	return secrets
}
