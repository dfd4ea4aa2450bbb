package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/slackapprove"
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

// InteractionsPath is where the worker takes Slack's signed interaction requests.
const InteractionsPath = "/slack/interactions"

// StartSlackApprovals starts the Slack approval bridge when the configuration takes clicks
// (notify.slack.app_token_env: Socket Mode; signing_secret_env: signed HTTP requests on
// interactions_listen), until ctx ends. Tokens come only from the environment variables
// the configuration names; the bridge signs with policy.slack_key.
func StartSlackApprovals(ctx context.Context, cfg *config.Config, c client.Client, logger *slog.Logger) error {
	s := cfg.Notify.Slack
	if !s.Approvals() {
		return nil
	}
	problem := func(key, got, want string) error {
		return &config.Problems{List: []config.Problem{{Key: key, Got: got, Want: want}}}
	}
	env := func(key, name string) (string, error) {
		v := os.Getenv(name)
		if name == "" || v == "" {
			return "", problem(key, cmp.Or(name, `""`)+" (empty)", "an environment variable that holds it, set for the worker, to take Slack approvals")
		}
		return v, nil
	}
	bot, err := env("notify.slack.bot_token_env", s.BotTokenEnv)
	if err != nil {
		return err
	}
	if cfg.Policy.SlackKey == "" {
		return problem("policy.slack_key", `""`, "the private SSH key the Slack bridge signs decisions with (ssh-keygen -t ed25519 -N '' -f /etc/rewind/slack_bridge)")
	}
	signer, err := identity.FileSigner(cfg.Policy.SlackKey)
	if err != nil {
		return problem("policy.slack_key", cfg.Policy.SlackKey, "an unencrypted OpenSSH private key the worker can read ("+err.Error()+")")
	}
	opts := []slack.Option{}
	if s.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(strings.TrimSuffix(s.APIURL, "/")+"/"))
	}
	var app string
	if s.AppTokenEnv != "" {
		if app, err = env("notify.slack.app_token_env", s.AppTokenEnv); err != nil {
			return err
		}
		opts = append(opts, slack.OptionAppLevelToken(app))
	}
	sc := slack.New(bot, opts...)
	bridge := slackapprove.New(cfg, slackapprove.TemporalGate{Client: c}, sc, signer, logger)
	if app != "" {
		sm := socketmode.New(sc)
		go func() {
			if err := bridge.RunSocketMode(ctx, sm); err != nil {
				logger.Error("slack approvals over socket mode stopped; decide with `rewind approve` until the worker restarts", "err", err)
			}
		}()
		logger.Info("slack approvals: socket mode")
	}
	if s.SigningSecretEnv != "" {
		secret, err := env("notify.slack.signing_secret_env", s.SigningSecretEnv)
		if err != nil {
			return err
		}
		if s.InteractionsListen == "" {
			return problem("notify.slack.interactions_listen", `""`, "host:port where Slack's interaction requests arrive (the app's Request URL ends in "+InteractionsPath+")")
		}
		l, err := net.Listen("tcp", s.InteractionsListen)
		if err != nil {
			return fmt.Errorf("listen for slack interactions on %s: %w", s.InteractionsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle(InteractionsPath, bridge.HTTPHandler(ctx, secret))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("slack interactions endpoint stopped", "err", err)
			}
		}()
		logger.Info("slack approvals: signed interactions", "url", "http://"+l.Addr().String()+InteractionsPath)
	}
	return nil
}
