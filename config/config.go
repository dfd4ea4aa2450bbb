// Package config loads rewind.yaml with viper (file < REWIND_* environment < flags) and
// checks it, reporting every problem at once so an operator fixes the file in one pass.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/algotrendy/rewind/retention"
	"github.com/algotrendy/rewind/storage"
)

// Config is everything the worker and the CLI read from rewind.yaml.
type Config struct {
	Temporal  Temporal         `mapstructure:"temporal"`
	Worker    Worker           `mapstructure:"worker"`
	Compose   Compose          `mapstructure:"compose"`
	Evidence  Evidence         `mapstructure:"evidence"`
	Stacks    map[string]Stack `mapstructure:"stacks"`
	Groups    map[string]Group `mapstructure:"groups"`
	Approvers []Approver       `mapstructure:"approvers"`
	Policy    PolicyOptions    `mapstructure:"policy"`
	Severity  SeverityPolicy   `mapstructure:"severity"`
	Notify    Notify           `mapstructure:"notify"`
	Identity  Identity         `mapstructure:"identity"`
	Telemetry Telemetry        `mapstructure:"telemetry"`
}

// Temporal says how to reach the Temporal frontend.
type Temporal struct {
	Address   string `mapstructure:"address"`
	Namespace string `mapstructure:"namespace"`
	TaskQueue string `mapstructure:"task_queue"`
	TLS       TLS    `mapstructure:"tls"`
	// APIKeyEnv names the environment variable holding the API key, so the key itself
	// never sits in a file that gets copied around.
	APIKeyEnv string `mapstructure:"api_key_env"`
	// UIURL is the Web UI's base address, for links the CLI prints.
	UIURL string `mapstructure:"ui_url"`
}

// TLS for the connection to Temporal.
type TLS struct {
	Enabled    bool   `mapstructure:"enabled"`
	CAFile     string `mapstructure:"ca_file"`
	CertFile   string `mapstructure:"cert_file"`
	KeyFile    string `mapstructure:"key_file"`
	ServerName string `mapstructure:"server_name"`
}

// Worker is the process on a Docker host.
type Worker struct {
	// Host names the task queue of Docker-bound activities; default: the machine's hostname.
	Host string `mapstructure:"host"`
	// Listen is where /metrics and /healthz are served.
	Listen       string        `mapstructure:"listen"`
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// StateDir keeps transfer checkpoints on this host, so a retry resumes after a crash.
	StateDir string `mapstructure:"state_dir"`
	// TransferBatch is how many bytes a restore sends, and a snapshot writes, between
	// checkpoints: the most a crash makes it send again. 0: 256 MiB restores, 64 MiB snapshots.
	TransferBatch int64 `mapstructure:"transfer_batch"`
	// Swap is how a full rollback puts staged data in place: auto renames the volume's
	// folder where the engine allows it (O(1)) and copies otherwise; copy always copies.
	Swap string `mapstructure:"swap"`
	// Transfer is how restores write into volumes: auto runs Rewind's own mover in a
	// helper container where the engine can mount this worker's state folder, and the
	// engine's archive API otherwise; archive always uses the archive API.
	Transfer string `mapstructure:"transfer"`
	// HeartbeatTimeout is how long a step on the host may go without a sign of life
	// before Temporal retries it elsewhere: how soon a dead worker is noticed.
	HeartbeatTimeout time.Duration `mapstructure:"heartbeat_timeout"`
	// ScheduleToStart is how long a step waits for a worker on the stack's host to take
	// it before the rollback fails with "no worker is polling": no silent waiting.
	ScheduleToStart time.Duration `mapstructure:"schedule_to_start"`
	// GuardName is who the guard is in the policy (an approver of role on-call or above)
	// when it starts a rollback; GuardKey its private SSH key, when signatures are required.
	GuardName string `mapstructure:"guard_name"`
	GuardKey  string `mapstructure:"guard_key"`
	// MaxConcurrentSteps bounds how many steps (restores, snapshots, compose runs) this
	// host runs at once, across every rollback; 0 leaves the Temporal SDK's default (1000).
	MaxConcurrentSteps int `mapstructure:"max_concurrent_steps"`
	// HoldSweep is how often the worker lets go of database holds (pause, stop, checkpoint)
	// whose backup run ended without releasing them, as a terminated run does.
	HoldSweep time.Duration `mapstructure:"hold_sweep"`
	// CrashAt makes the worker kill itself at a named point (REWIND_CRASH_AT): the crash
	// tests' hook, never set in production.
	CrashAt string `mapstructure:"crash_at"`
}

// Compose is the operator's compose CLI; empty detects `docker compose`, then `docker-compose`.
type Compose struct {
	Command []string `mapstructure:"command"`
}

// Evidence is where incident evidence is written.
type Evidence struct {
	Dir string `mapstructure:"dir"`
	// S3, when it names a bucket, keeps evidence there instead of in Dir.
	S3 S3 `mapstructure:"s3"`
}

// Stack is one Docker Compose deployment Rewind can roll back.
type Stack struct {
	Project      string   `mapstructure:"project"`
	ComposeFiles []string `mapstructure:"compose_files"`
	WorkingDir   string   `mapstructure:"working_dir"`
	Host         string   `mapstructure:"host"`
	Services     []string `mapstructure:"services"`
	// Volumes are the stack's data: a name, or a name with its own backup pattern.
	Volumes         []Volume      `mapstructure:"volumes"`
	StopGracePeriod time.Duration `mapstructure:"stop_grace_period"`
	Backups         Backups       `mapstructure:"backups"`
	Checks          Checks        `mapstructure:"checks"`
	// Image is the deployed image a quick rollback removes; empty keeps it.
	Image string `mapstructure:"image"`
	// Build is how a git rollback rebuilds the image of the version it checks out.
	Build Build `mapstructure:"build"`
	// Guard is how a fresh deploy is watched.
	Guard Guard `mapstructure:"guard"`
	// Drill is how often a restore drill proves the newest backup.
	Drill Drill `mapstructure:"drill"`
}

// Volume is one named volume of a stack and how its backups are named.
type Volume struct {
	Name string `mapstructure:"name"`
	// Pattern matches this volume's backups; empty: the stack's backups.pattern.
	Pattern string `mapstructure:"pattern"`
	// Layout says where the volume's files sit inside its backups: auto (default), runbook
	// (<volume>/_data/...), flat or strip:N.
	Layout string `mapstructure:"layout"`
}

// Build is the runbook's `docker build -f backend/Dockerfile -t algotrendy-api:<version> .`.
type Build struct {
	Dockerfile string `mapstructure:"dockerfile"`
	Image      string `mapstructure:"image"`
	// MaxContext refuses a build context larger than this ("512MiB", the default).
	MaxContext string `mapstructure:"max_context"`
}

// MaxContextBytes is MaxContext in bytes (0: the default).
func (b Build) MaxContextBytes() int64 {
	n, _ := parseSize(b.MaxContext)
	return n
}

// Backups says where a stack's database backups live.
type Backups struct {
	Dir             string `mapstructure:"dir"`
	Pattern         string `mapstructure:"pattern"`
	RequireChecksum bool   `mapstructure:"require_checksum"`
	S3              S3     `mapstructure:"s3"`
	// Consistency is how `rewind backup` holds the database still while it copies the
	// volumes: checkpoint, pause (the default) or stop (see Consistency* below).
	Consistency string `mapstructure:"consistency"`
	// DatabaseURL is the database's HTTP /exec API a checkpoint is taken through; empty:
	// checks.database_url.
	DatabaseURL string `mapstructure:"database_url"`
	// Keep is which backups retention keeps after each backup (restic's --keep-*); zero
	// keeps everything.
	Keep retention.Policy `mapstructure:"keep"`
	// MaxAge pages the on-call when the newest proven backup is older; 0: never.
	MaxAge time.Duration `mapstructure:"max_age"`
}

// Drill is a stack's restore drill: a Temporal Schedule that restores the newest backup
// into a throwaway database and runs the stack's data check against it.
type Drill struct {
	// Every is the schedule's interval (default 24h); a negative value turns drills off.
	Every time.Duration `mapstructure:"every"`
}

// The ways a backup is made consistent. Pause is the default: it needs nothing of the
// database (a paused container's files are a crash-consistent image every database with
// a journal restores from), holds writes only for the copy, and drops no connection.
// Checkpoint needs QuestDB's CHECKPOINT CREATE (or the demo's); stop takes the stack down.
const (
	ConsistencyCheckpoint = "checkpoint"
	ConsistencyPause      = "pause"
	ConsistencyStop       = "stop"
)

// ConsistencyModes lists the modes backups.consistency takes.
func ConsistencyModes() []string {
	return []string{ConsistencyCheckpoint, ConsistencyPause, ConsistencyStop}
}

// CheckpointURL is the database URL a checkpoint backup talks to.
func (s Stack) CheckpointURL() string {
	if s.Backups.DatabaseURL != "" {
		return s.Backups.DatabaseURL
	}
	return s.Checks.DatabaseURL
}

// Location is where the backup activities find this stack's backups.
func (b Backups) Location() storage.Location {
	return b.S3.location(b.Dir)
}

func (s S3) location(dir string) storage.Location {
	return storage.Location{Dir: dir, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region, Endpoint: s.Endpoint, UsePathStyle: s.UsePathStyle, PartSize: s.PartSize}
}

// Location is where evidence is kept.
func (e Evidence) Location() storage.Location { return e.S3.location(e.Dir) }

// S3 is an S3 or S3-compatible bucket; credentials come from the default AWS chain.
type S3 struct {
	Bucket       string `mapstructure:"bucket"`
	Prefix       string `mapstructure:"prefix"`
	Region       string `mapstructure:"region"`
	Endpoint     string `mapstructure:"endpoint"`
	UsePathStyle bool   `mapstructure:"use_path_style"`
	// PartSize of multipart uploads in bytes (at least 5 MiB); 0: 16 MiB.
	PartSize int64 `mapstructure:"part_size"`
}

// Checks are the post-rollback verification of the runbook, per stack.
type Checks struct {
	HealthURL     string        `mapstructure:"health_url"`
	HealthExpect  string        `mapstructure:"health_expect"`
	DatabaseURL   string        `mapstructure:"database_url"`
	DataQuery     string        `mapstructure:"data_query"`
	LogsMustHave  []string      `mapstructure:"logs_must_have"`
	LogsMustLack  []string      `mapstructure:"logs_must_lack"`
	FunctionalURL string        `mapstructure:"functional_url"`
	HealthTimeout time.Duration `mapstructure:"health_timeout"`
	// FingerprintQuery fingerprints the data (like SELECT COUNT(*), SUM(price) FROM
	// market_data); after a restore its answer must equal the one recorded with the
	// backup (<backup>.fingerprint), when the backup tool recorded one.
	FingerprintQuery string `mapstructure:"fingerprint_query"`
	// MaxMemory and MaxCPUPercent bound each container's usage after the rollback (the
	// runbook's `docker stats`); "512MiB", 90. Empty or 0: not checked.
	MaxMemory     string  `mapstructure:"max_memory"`
	MaxCPUPercent float64 `mapstructure:"max_cpu_percent"`
}

// MaxMemoryBytes is MaxMemory in bytes (0: not checked).
func (c Checks) MaxMemoryBytes() int64 {
	n, _ := parseSize(c.MaxMemory)
	return n
}

// parseSize reads a size like 512MiB, 2GiB, 100MB or 1048576.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size")
	}
	return int64(n * float64(mult)), nil
}

// Approver is a person who may start or approve rollbacks.
type Approver struct {
	Name string `mapstructure:"name"`
	Role string `mapstructure:"role"`
	// Keys are the person's SSH public keys, as in authorized_keys ("ssh-ed25519 AAAA...").
	Keys []string `mapstructure:"keys"`
	// PublicKey is a bare ed25519 key (base64) of earlier configurations; it counts as one
	// more key.
	PublicKey string `mapstructure:"public_key"`
	// Slack is the person's Slack user ID (U…, W…): a click on a Slack approval button
	// counts as theirs only when Slack says this user clicked.
	Slack string `mapstructure:"slack"`
}

// PolicyOptions say how people prove who they are.
type PolicyOptions struct {
	// RequireSignatures refuses every start and decision that is not signed with one of
	// the person's keys.
	RequireSignatures bool `mapstructure:"require_signatures"`
	// AllowedSigners is an OpenSSH allowed signers file (namespace rewind) with more keys.
	AllowedSigners string `mapstructure:"allowed_signers"`
	// SlackKey is the private SSH key the Slack bridge signs decisions with (worker-held,
	// like worker.guard_key); its public key is what the gate takes as Slack's word.
	SlackKey string `mapstructure:"slack_key"`
}

// SeverityPolicy is the runbook's decision table.
type SeverityPolicy struct {
	// Escalation lists roles from least to most authority.
	Escalation []string        `mapstructure:"escalation"`
	Levels     map[string]Rule `mapstructure:"levels"`
}

// Rule says who approves a severity and how long they have.
type Rule struct {
	Role         string        `mapstructure:"role"`
	DecisionTime time.Duration `mapstructure:"decision_time"`
	HardDeadline time.Duration `mapstructure:"hard_deadline"`
	// Proofs are the proofs a decision at this severity may carry (ProofSSH, ProofSlack);
	// empty: an SSH signature when the person must sign, Slack never.
	Proofs []string `mapstructure:"proofs" json:",omitempty"`
}

// Proofs a severity's rule may accept.
const (
	ProofSSH   = "ssh"
	ProofSlack = "slack"
)

// Identity is who runs the CLI and how they sign: their name as the worker's policy lists
// it, and a private key file when their key is not in ssh-agent.
type Identity struct {
	Name string `mapstructure:"name"`
	Key  string `mapstructure:"key"`
}

// Notify says where rollbacks are announced. Secrets are named by the environment
// variables that hold them, so they never sit in a file that gets copied around.
type Notify struct {
	// WebhookURL is a Slack incoming webhook of earlier configurations; prefer
	// slack.webhook_url_env.
	WebhookURL string `mapstructure:"webhook_url"`
	// Channel is where the Slack bot posts.
	Channel   string          `mapstructure:"channel"`
	Slack     SlackNotify     `mapstructure:"slack"`
	PagerDuty PagerDutyNotify `mapstructure:"pagerduty"`
	Webhook   WebhookNotify   `mapstructure:"webhook"`
	// UIURL is the Web UI's base address, for the links notifications carry; empty:
	// temporal.ui_url.
	UIURL string `mapstructure:"ui_url"`
}

// SlackNotify names the variables holding a Slack incoming webhook or a bot token.
type SlackNotify struct {
	WebhookURLEnv string `mapstructure:"webhook_url_env"`
	BotTokenEnv   string `mapstructure:"bot_token_env"`
	// APIURL points the bot at another Slack API base (a proxy, a test stand-in).
	APIURL string `mapstructure:"api_url"`
	// AppTokenEnv names the variable holding an app-level token (xapp-…): the worker then
	// takes approval button clicks over Socket Mode.
	AppTokenEnv string `mapstructure:"app_token_env"`
	// SigningSecretEnv names the variable holding the app's signing secret: the worker
	// then takes button clicks as signed HTTP requests at /slack/interactions on
	// InteractionsListen (host:port, behind the operator's TLS proxy).
	SigningSecretEnv   string `mapstructure:"signing_secret_env"`
	InteractionsListen string `mapstructure:"interactions_listen"`
}

// Approvals says whether approval messages carry buttons: a way in for clicks is set.
func (s SlackNotify) Approvals() bool { return s.AppTokenEnv != "" || s.SigningSecretEnv != "" }

// PagerDutyNotify names the variable holding an Events API v2 routing key.
type PagerDutyNotify struct {
	RoutingKeyEnv string `mapstructure:"routing_key_env"`
	// Endpoint is the Events API base; empty: https://events.pagerduty.com.
	Endpoint string `mapstructure:"endpoint"`
}

// WebhookNotify names the variable holding a URL that receives each event as JSON.
type WebhookNotify struct {
	URLEnv string `mapstructure:"url_env"`
}

// Telemetry configures OpenTelemetry; OTLP is used when an endpoint is set here or in
// OTEL_EXPORTER_OTLP_ENDPOINT.
type Telemetry struct {
	OTLPEndpoint string `mapstructure:"otlp_endpoint"`
	Stdout       bool   `mapstructure:"stdout"`
}

// Severities in the order of the runbook's table.
var Severities = []string{"P1", "P2", "P3"}

// Roles of the runbook's escalation path, least authority first.
var Roles = []string{"on-call", "senior", "tech-lead", "engineering-manager"}

func setDefaults(v *viper.Viper) {
	v.SetDefault("temporal.address", "127.0.0.1:7233")
	v.SetDefault("temporal.namespace", "default")
	v.SetDefault("temporal.task_queue", "rewind")
	v.SetDefault("temporal.api_key_env", "")
	v.SetDefault("temporal.ui_url", "http://127.0.0.1:8233")
	v.SetDefault("temporal.tls.enabled", false)
	v.SetDefault("temporal.tls.ca_file", "")
	v.SetDefault("temporal.tls.cert_file", "")
	v.SetDefault("temporal.tls.key_file", "")
	v.SetDefault("temporal.tls.server_name", "")
	v.SetDefault("worker.host", "")
	v.SetDefault("worker.listen", "127.0.0.1:9464")
	v.SetDefault("worker.drain_timeout", "30s")
	v.SetDefault("worker.state_dir", ".rewind/state")
	v.SetDefault("worker.transfer_batch", 0)
	v.SetDefault("worker.heartbeat_timeout", "20s")
	v.SetDefault("worker.schedule_to_start", "10m")
	v.SetDefault("worker.guard_name", "rewind-guard")
	v.SetDefault("worker.guard_key", "")
	v.SetDefault("worker.swap", "auto")
	v.SetDefault("worker.transfer", "auto")
	v.SetDefault("worker.hold_sweep", "1m")
	v.SetDefault("worker.crash_at", "")
	_ = v.BindEnv("worker.crash_at", "REWIND_CRASH_AT")
	v.SetDefault("compose.command", []string{})
	v.SetDefault("evidence.dir", ".rewind/evidence")
	v.SetDefault("evidence.s3.bucket", "")
	v.SetDefault("evidence.s3.prefix", "")
	v.SetDefault("evidence.s3.region", "")
	v.SetDefault("evidence.s3.endpoint", "")
	v.SetDefault("evidence.s3.use_path_style", false)
	v.SetDefault("evidence.s3.part_size", 0)
	v.SetDefault("policy.require_signatures", false)
	v.SetDefault("policy.allowed_signers", "")
	v.SetDefault("severity.escalation", Roles)
	v.SetDefault("severity.levels", map[string]any{
		"P1": map[string]any{"role": "on-call", "decision_time": "0s", "hard_deadline": "0s"},
		"P2": map[string]any{"role": "senior", "decision_time": "15m", "hard_deadline": "1h"},
		"P3": map[string]any{"role": "tech-lead", "decision_time": "1h", "hard_deadline": "4h"},
	})
	v.SetDefault("notify.webhook_url", "")
	v.SetDefault("notify.channel", "")
	v.SetDefault("notify.ui_url", "")
	v.SetDefault("notify.slack.webhook_url_env", "")
	v.SetDefault("notify.slack.bot_token_env", "")
	v.SetDefault("notify.slack.api_url", "")
	v.SetDefault("notify.pagerduty.routing_key_env", "")
	v.SetDefault("notify.pagerduty.endpoint", "")
	v.SetDefault("notify.webhook.url_env", "")
	v.SetDefault("identity.name", "")
	v.SetDefault("identity.key", "")
	v.SetDefault("telemetry.otlp_endpoint", "")
	v.SetDefault("telemetry.stdout", false)
}

// Load reads the file at path (empty: REWIND_CONFIG, then ./rewind.yaml when present),
// then REWIND_* environment variables, then the flags bound with BindFlags.
func Load(path string, flags *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix("REWIND")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path == "" {
		path = os.Getenv("REWIND_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("rewind.yaml"); err == nil {
			path = "rewind.yaml"
		}
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, &Problems{File: path, List: []Problem{{Key: "(file)", Got: path, Want: "a readable YAML file: " + err.Error()}}}
		}
	}
	if flags != nil {
		for key, name := range flagKeys {
			if f := flags.Lookup(name); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return nil, fmt.Errorf("bind flag --%s: %w", name, err)
				}
			}
		}
	}
	var cfg Config
	var problems []Problem
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(","), volumeFromName))); err != nil {
		problems = append(problems, decodeProblems(err)...)
	}
	problems = append(problems, cfg.validate()...)
	if len(problems) > 0 {
		return nil, &Problems{File: path, List: problems}
	}
	cfg.fillStackDefaults()
	return &cfg, nil
}

// flagKeys maps config keys to the CLI and worker flags that override them.
var flagKeys = map[string]string{
	"temporal.address":    "address",
	"temporal.namespace":  "namespace",
	"temporal.task_queue": "task-queue",
	"worker.host":         "host",
	"worker.listen":       "listen",
}

// BindFlags adds the flags that override the file and the environment.
func BindFlags(flags *pflag.FlagSet) {
	flags.String("address", "", "Temporal frontend host:port (temporal.address, REWIND_TEMPORAL_ADDRESS)")
	flags.String("namespace", "", "Temporal namespace (temporal.namespace)")
	flags.String("task-queue", "", "task queue of the rollback workflows (temporal.task_queue)")
}

func (c *Config) fillStackDefaults() {
	for name, s := range c.Stacks {
		if s.Project == "" {
			s.Project = name
		}
		if s.StopGracePeriod == 0 {
			s.StopGracePeriod = 30 * time.Second
		}
		if s.Checks.HealthTimeout == 0 {
			s.Checks.HealthTimeout = 5 * time.Minute
		}
		if s.Backups.Pattern == "" {
			s.Backups.Pattern = "questdb_backup_*.tar.gz"
		}
		if s.Backups.Consistency == "" {
			s.Backups.Consistency = ConsistencyPause
		}
		if s.Drill.Every == 0 {
			s.Drill.Every = 24 * time.Hour
		}
		s.Guard.fillDefaults()
		for i := range s.Volumes {
			if s.Volumes[i].Pattern == "" && i == 0 {
				s.Volumes[i].Pattern = s.Backups.Pattern
			}
			if s.Volumes[i].Layout == "" {
				s.Volumes[i].Layout = "auto"
			}
		}
		c.Stacks[name] = s
	}
}

// volumeFromName lets a volume be written as its name alone.
func volumeFromName(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[Volume]() || from.Kind() != reflect.String {
		return data, nil
	}
	return map[string]any{"name": data}, nil
}

// VolumeNames lists the stack's volumes.
func (s Stack) VolumeNames() []string {
	out := make([]string, len(s.Volumes))
	for i, v := range s.Volumes {
		out[i] = v.Name
	}
	return out
}

// StackNames lists the configured stacks, sorted.
func (c *Config) StackNames() []string {
	names := make([]string, 0, len(c.Stacks))
	for n := range c.Stacks {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Stack returns the named stack or an error that lists the known ones.
func (c *Config) Stack(name string) (Stack, error) {
	s, ok := c.Stacks[name]
	if !ok {
		known := strings.Join(c.StackNames(), ", ")
		if known == "" {
			known = "none: add one under stacks: in rewind.yaml"
		}
		return Stack{}, fmt.Errorf("unknown stack %q; known stacks: %s", name, known)
	}
	return s, nil
}

// Approver finds an approver by name.
func (c *Config) Approver(name string) (Approver, bool) {
	for _, a := range c.Approvers {
		if a.Name == name {
			return a, true
		}
	}
	return Approver{}, false
}

// Problem is one thing wrong in the configuration.
type Problem struct {
	Key  string
	Got  string
	Want string
	// Say, when set, is the whole message: what is wrong and what to do.
	Say string `json:",omitempty"`
}

func (p Problem) String() string {
	if p.Say != "" {
		return p.Key + ": " + p.Say
	}
	return fmt.Sprintf("%s: got %s, want %s", p.Key, p.Got, p.Want)
}

// Problems is every mistake found in one configuration.
type Problems struct {
	File string
	List []Problem
}

func (p *Problems) Error() string {
	var b strings.Builder
	src := p.File
	if src == "" {
		src = "defaults and environment"
	}
	fmt.Fprintf(&b, "%d problem(s) in the configuration (%s):", len(p.List), src)
	for _, pr := range p.List {
		b.WriteString("\n  - ")
		b.WriteString(pr.String())
	}
	return b.String()
}

// IsProblems reports whether err is a configuration problem (bad input, exit code 2).
func IsProblems(err error) bool {
	var p *Problems
	return errors.As(err, &p)
}

// Person is name as the policy says now, with their keys and signers' (more keys, by
// person, from the allowed signers file); false when the policy does not name them.
func (c *Config) Person(name string, signers map[string][]string) (Person, bool, error) {
	p, err := c.policy(Severities[0], signers)
	if err != nil {
		return Person{}, false, err
	}
	who, ok := p.Person(name)
	return who, ok, nil
}
