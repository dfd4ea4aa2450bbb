package runner

import (
	"cmp"
	"os"

	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
)

// Notifier builds the notification backends of the configuration, with their secrets read
// from the environment variables it names.
func Notifier(cfg *config.Config) (*notify.Activities, error) {
	n := cfg.Notify
	secret := func(key, env string) (string, error) {
		if env == "" {
			return "", nil
		}
		v := os.Getenv(env)
		if v == "" {
			return "", &config.Problems{List: []config.Problem{{Key: key, Got: env + " (empty)", Want: "an environment variable that holds the secret; set it for the worker or clear " + key}}}
		}
		return v, nil
	}
	var c notify.Config
	var err error
	if c.Slack.WebhookURL, err = secret("notify.slack.webhook_url_env", n.Slack.WebhookURLEnv); err != nil {
		return nil, err
	}
	c.Slack.WebhookURL = cmp.Or(c.Slack.WebhookURL, n.WebhookURL)
	if c.Slack.BotToken, err = secret("notify.slack.bot_token_env", n.Slack.BotTokenEnv); err != nil {
		return nil, err
	}
	if c.Slack.BotToken != "" {
		c.Slack.Channel = n.Channel
		c.Slack.Buttons = n.Slack.Approvals()
	}
	c.Slack.APIURL = n.Slack.APIURL
	if c.PagerDuty.RoutingKey, err = secret("notify.pagerduty.routing_key_env", n.PagerDuty.RoutingKeyEnv); err != nil {
		return nil, err
	}
	c.PagerDuty.Endpoint = n.PagerDuty.Endpoint
	if c.Webhook.URL, err = secret("notify.webhook.url_env", n.Webhook.URLEnv); err != nil {
		return nil, err
	}
	a, err := notify.New(c)
	if err != nil {
		return nil, &config.Problems{List: []config.Problem{{Key: "notify", Got: "an incomplete setup", Want: err.Error()}}}
	}
	return a, nil
}

// AllowedSigners reads the policy's allowed signers file, if it names one, and refuses one
// key under two names, so a worker does not start on a policy it would refuse at use.
func AllowedSigners(cfg *config.Config) (identity.AllowedSigners, error) {
	return policy.ReadAllowedSigners(cfg)
}
