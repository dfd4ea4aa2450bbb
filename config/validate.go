package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/identity"
)

var stackName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// validate returns every problem in c, each naming its key, what it holds and what is expected.
func (c *Config) validate() []Problem {
	var ps []Problem
	add := func(key, got, want string) { ps = append(ps, Problem{Key: key, Got: got, Want: want}) }

	if _, _, err := net.SplitHostPort(c.Temporal.Address); err != nil {
		add("temporal.address", quote(c.Temporal.Address), "host:port of the Temporal frontend, like 127.0.0.1:7233")
	}
	if c.Temporal.Namespace == "" {
		add("temporal.namespace", `""`, "a namespace name, like default")
	}
	if c.Temporal.TaskQueue == "" {
		add("temporal.task_queue", `""`, "a task queue name, like rewind")
	}
	if t := c.Temporal.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		add("temporal.tls", fmt.Sprintf("cert_file %s and key_file %s", quote(t.CertFile), quote(t.KeyFile)), "both set for mutual TLS, or neither")
	}
	if c.Worker.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Worker.Listen); err != nil {
			add("worker.listen", quote(c.Worker.Listen), "host:port for /metrics and /healthz, like 127.0.0.1:9464")
		}
	}
	if h := c.Worker.HeartbeatTimeout; h != 0 && h < time.Second {
		add("worker.heartbeat_timeout", h.String(), "at least 1s (default 20s): the worker heartbeats every quarter of it")
	}
	if h := c.Worker.HoldSweep; h != 0 && h < 100*time.Millisecond {
		add("worker.hold_sweep", h.String(), "at least 100ms (default 1m): how often holds of ended backups are let go")
	}
	if s := c.Worker.ScheduleToStart; s != 0 && s < time.Second {
		add("worker.schedule_to_start", s.String(), "at least 1s (default 10m): how long a step waits for a worker on its host")
	}
	if w := c.Worker.Swap; w != "auto" && w != "copy" {
		add("worker.swap", quote(w), "auto (rename where the engine allows, else copy) or copy")
	}
	if w := c.Worker.Transfer; w != "auto" && w != "archive" {
		add("worker.transfer", quote(w), "auto (Rewind's mover where the engine allows, else the archive API) or archive")
	}
	if c.Worker.MaxConcurrentSteps < 0 {
		add("worker.max_concurrent_steps", strconv.Itoa(c.Worker.MaxConcurrentSteps), "0 (the SDK's default) or how many steps this host runs at once")
	}
	if c.Worker.DrainTimeout < 0 {
		add("worker.drain_timeout", c.Worker.DrainTimeout.String(), "a duration of zero or more, like 30s")
	}
	if b := c.Worker.TransferBatch; b != 0 && b < 1<<20 {
		add("worker.transfer_batch", strconv.FormatInt(b, 10), "0 (the defaults) or at least 1048576 bytes (1 MiB)")
	}
	checkPartSize := func(key string, n int64) {
		if n != 0 && n < 5<<20 {
			add(key, strconv.FormatInt(n, 10), "0 (16 MiB) or at least 5242880 bytes (5 MiB), the smallest part S3 takes")
		}
	}
	checkPartSize("evidence.s3.part_size", c.Evidence.S3.PartSize)
	if c.Evidence.Dir == "" {
		add("evidence.dir", `""`, "a folder for incident evidence, like .rewind/evidence")
	}

	// A fleet's stacks each name their host: otherwise the stack would run wherever the
	// worker that picked up the rollback happens to be.
	var named []string
	for _, name := range c.StackNames() {
		if h := c.Stacks[name].Host; h != "" && !slices.Contains(named, h) {
			named = append(named, h)
		}
	}
	for _, name := range c.StackNames() {
		s := c.Stacks[name]
		key := "stacks." + name
		if s.Host == "" && len(named) > 0 {
			add(key+".host", `""`, "the Docker host the stack runs on: other stacks name theirs ("+strings.Join(named, ", ")+"), so this one must too")
		}
		if !stackName.MatchString(name) || strings.HasPrefix(name, "group-") || reservedSuffix(name) {
			add(key, quote(name), "a stack name of lowercase letters, digits, '-' and '_', not starting with group- nor ending in -backup, -drill, -guard or -verify (it becomes the workflow ID rewind-<stack>, and those name a stack's other workflows)")
		}
		if len(s.ComposeFiles) == 0 {
			add(key+".compose_files", "nothing", "at least one compose file, like docker-compose.prod.yml")
		}
		if s.StopGracePeriod < 0 {
			add(key+".stop_grace_period", s.StopGracePeriod.String(), "a duration of zero or more, like 30s")
		}
		checkPartSize(key+".backups.s3.part_size", s.Backups.S3.PartSize)
		for i, vol := range s.Volumes {
			vkey := fmt.Sprintf("%s.volumes[%d]", key, i)
			if vol.Name == "" {
				add(vkey+".name", `""`, "the volume's name, as `docker volume ls` shows it")
			}
			if i > 0 && vol.Pattern == "" && s.Backups.Pattern != "" {
				add(vkey+".pattern", `""`, "the pattern of this volume's own backups, like redis_backup_*.tar.gz (backups.pattern names the first volume's)")
			}
			if vol.Layout != "" && !validLayout(vol.Layout) {
				add(vkey+".layout", quote(vol.Layout), "auto, runbook (<volume>/_data/...), flat or strip:N")
			}
		}
		backupProblems(key+".backups", s, add)
		if s.Backups.Dir != "" && s.Backups.S3.Bucket != "" {
			add(key+".backups", "both dir and s3.bucket", "one backup location: a local dir or an S3 bucket")
		}
		for i, u := range []string{s.Checks.HealthURL, s.Checks.FunctionalURL} {
			field := key + ".checks." + []string{"health_url", "functional_url"}[i]
			if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				add(field, quote(u), "an http:// or https:// URL")
			} else if secret := urlSecret(u); secret != "" {
				ps = append(ps, Problem{Key: field, Say: secret + " in the URL: it would be recorded in every rollback's history and evidence; a header is not supported: use a URL without the secret"})
			}
		}
		if u := s.Checks.DatabaseURL; u != "" {
			parsed, err := url.Parse(u)
			switch {
			case err != nil || !slices.Contains([]string{"http", "https", "postgres", "postgresql"}, parsed.Scheme):
				add(key+".checks.database_url", quote(u), "QuestDB's HTTP API (http://host:9000) or PostgreSQL (postgres://user@host:5432/db)")
			case urlSecret(u) != "":
				ps = append(ps, Problem{Key: key + ".checks.database_url", Say: urlSecret(u) + " in the URL: it would be recorded in every rollback's history and evidence; for PostgreSQL set PGPASSWORD or ~/.pgpass for the worker, for QuestDB a header is not supported: use a URL without the secret"})
			}
		}
		guard := s.Guard
		guard.fillDefaults()
		guard.problems(key+".guard", add)
		if _, err := parseSize(s.Build.MaxContext); err != nil {
			add(key+".build.max_context", quote(s.Build.MaxContext), "a size like 512MiB or 2GiB")
		}
		if _, err := parseSize(s.Checks.MaxMemory); err != nil {
			add(key+".checks.max_memory", quote(s.Checks.MaxMemory), "a size like 512MiB or 2GiB")
		}
		if p := s.Checks.MaxCPUPercent; p < 0 {
			add(key+".checks.max_cpu_percent", strconv.FormatFloat(p, 'f', -1, 64), "a percentage of one core, like 90 (0: not checked)")
		}
	}

	c.groupProblems(add)

	seen := map[string]bool{}
	// slackOf names who holds each Slack user: a click must map to one approver.
	slackOf := map[string]string{}
	for i, a := range c.Approvers {
		key := "approvers[" + strconv.Itoa(i) + "]"
		if a.Name == "" {
			add(key+".name", `""`, "the approver's name, as they type it in `rewind approve --as`")
		} else if seen[a.Name] {
			add(key+".name", quote(a.Name), "a name used once")
		}
		seen[a.Name] = true
		if !slices.Contains(c.Severity.Escalation, a.Role) {
			add(key+".role", quote(a.Role), "one of "+strings.Join(c.Severity.Escalation, ", "))
		}
		for j, k := range a.Keys {
			kkey := fmt.Sprintf("%s.keys[%d]", key, j)
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
				add(kkey, quote(k), "an SSH public key as in authorized_keys, like \"ssh-ed25519 AAAA... alice@laptop\" ("+err.Error()+")")
			} else if _, err := identity.ParseKeyLine(k); err != nil {
				ps = append(ps, Problem{Key: kkey, Say: err.Error()})
			}
		}
		if a.PublicKey != "" {
			if _, err := bareKey(a.PublicKey); err != nil {
				add(key+".public_key", quote(a.PublicKey), err.Error())
			}
		}
		if a.Slack != "" && !slackUserID(a.Slack) {
			add(key+".slack", quote(a.Slack), "the person's Slack member ID, like U024BE7LH (Slack: profile → ⋮ → Copy member ID)")
		} else if other, ok := slackOf[a.Slack]; ok && a.Slack != "" {
			add(key+".slack", quote(a.Slack), "a Slack member ID of one approver: "+other+" has it too, so a click could not say whether it was "+a.Name+" who decided")
		} else if a.Slack != "" {
			slackOf[a.Slack] = fmt.Sprintf("%s (%s)", key, a.Name)
		}
		if c.Policy.RequireSignatures && len(a.Keys) == 0 && a.PublicKey == "" && c.Policy.AllowedSigners == "" {
			add(key+".keys", "none", "at least one SSH public key: policy.require_signatures is on, so "+a.Name+" could neither start nor approve")
		}
	}

	ps = append(ps, c.sharedKeyProblems()...)

	if len(c.Severity.Escalation) == 0 {
		add("severity.escalation", "nothing", "roles from least to most authority, like "+strings.Join(Roles, ", "))
	}
	for _, sev := range Severities {
		rule, ok := c.Severity.Levels[strings.ToLower(sev)]
		if !ok {
			rule, ok = c.Severity.Levels[sev]
		}
		key := "severity.levels." + sev
		if !ok {
			add(key, "nothing", "a rule with role, decision_time and hard_deadline")
			continue
		}
		if !slices.Contains(c.Severity.Escalation, rule.Role) {
			add(key+".role", quote(rule.Role), "one of "+strings.Join(c.Severity.Escalation, ", "))
		}
		if rule.DecisionTime < 0 {
			add(key+".decision_time", rule.DecisionTime.String(), "a duration of zero or more")
		}
		for j, proof := range rule.Proofs {
			pkey := fmt.Sprintf("%s.proofs[%d]", key, j)
			switch {
			case proof != ProofSSH && proof != ProofSlack:
				add(pkey, quote(proof), "ssh (a signature with the person's key) or slack (a click on the approval message)")
			case proof == ProofSlack && c.Policy.SlackKey == "":
				add(pkey, quote(proof), "policy.slack_key set to the Slack bridge's private SSH key, which signs the decisions it takes from Slack")
			case proof == ProofSlack && !c.Notify.Slack.Approvals():
				add(pkey, quote(proof), "a way for clicks to reach the worker: notify.slack.app_token_env (Socket Mode) or notify.slack.signing_secret_env (HTTP)")
			}
		}
		if rule.HardDeadline != 0 && rule.HardDeadline < rule.DecisionTime {
			add(key+".hard_deadline", rule.HardDeadline.String(), "at least the decision_time "+rule.DecisionTime.String())
		}
	}
	for lvl := range c.Severity.Levels {
		if !slices.Contains(Severities, strings.ToUpper(lvl)) {
			add("severity.levels."+lvl, quote(lvl), "one of P1, P2, P3")
		}
	}
	return ps
}

// slackUserID says whether id looks like a Slack member ID: U or W, then capitals and digits.
func slackUserID(id string) bool {
	if len(id) < 3 || (id[0] != 'U' && id[0] != 'W') {
		return false
	}
	for _, c := range id[1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func hasPassword(u *url.Userinfo) bool {
	_, ok := u.Password()
	return ok
}

// secretParams are query parameters that carry credentials, compared case-insensitively.
var secretParams = []string{"token", "key", "api_key", "apikey", "access_token", "password", "secret", "sig", "signature"}

// urlSecret names the credential a URL carries ("a password (userinfo)", "query parameter
// token"), or "" when it carries none that Rewind can tell.
func urlSecret(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return ""
	}
	if u.User != nil && hasPassword(u.User) {
		return "a password (user:password@)"
	}
	names := slices.Sorted(maps.Keys(u.Query()))
	for _, name := range names {
		if slices.Contains(secretParams, strings.ToLower(name)) {
			return "query parameter " + name
		}
	}
	return ""
}

func validLayout(l string) bool {
	switch l {
	case "auto", "runbook", "flat":
		return true
	}
	n, ok := strings.CutPrefix(l, "strip:")
	if !ok {
		return false
	}
	v, err := strconv.Atoi(n)
	return err == nil && v >= 0
}

// Rule returns the approval rule of a severity (P1, P2 or P3).
func (c *Config) Rule(severity string) (Rule, error) {
	sev := strings.ToUpper(severity)
	if !slices.Contains(Severities, sev) {
		return Rule{}, fmt.Errorf("unknown severity %q; use P1 (critical), P2 (major) or P3 (minor)", severity)
	}
	if r, ok := c.Severity.Levels[strings.ToLower(sev)]; ok {
		return r, nil
	}
	return c.Severity.Levels[sev], nil
}

// decodeProblems turns viper's decode errors (unknown keys, wrong types) into problems.
func decodeProblems(err error) []Problem {
	var ps []Problem
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasPrefix(line, "decoding failed due to") || strings.HasSuffix(line, "error(s) decoding:") {
			continue
		}
		if i := strings.Index(line, "has invalid keys: "); i >= 0 {
			parent := strings.Trim(strings.TrimSpace(line[:i]), "'\"")
			for _, k := range strings.Split(line[i+len("has invalid keys: "):], ", ") {
				if parent != "" {
					k = parent + "." + k
				}
				ps = append(ps, Problem{Key: k, Got: "an unknown key", Want: "a key Rewind knows (see rewind.example.yaml); check its spelling"})
			}
			continue
		}
		key := "(value)"
		if m := quotedKey.FindStringSubmatch(line); m != nil {
			key = m[1]
		}
		ps = append(ps, Problem{Key: key, Got: "a value of the wrong type", Want: "a value that decodes: " + line})
	}
	return ps
}

var quotedKey = regexp.MustCompile(`'([^']+)'`)

func quote(s string) string { return strconv.Quote(s) }

// WordWarning says, in one line, what a worker with policy.require_signatures off takes on
// word, or "" when it requires signatures. People with keys must sign whatever the setting;
// the others can be impersonated by anyone who can write to the namespace.
func (c *Config) WordWarning() string {
	if c.Policy.RequireSignatures {
		return ""
	}
	var unkeyed []string
	for _, a := range c.Approvers {
		if len(a.Keys) == 0 && a.PublicKey == "" {
			unkeyed = append(unkeyed, a.Name)
		}
	}
	msg := "policy.require_signatures is off: decisions are taken on word: anyone with write access to the namespace can start and approve as any person without keys"
	switch {
	case len(unkeyed) == 0:
		return msg + " (every approver has keys and must sign); turn it on to refuse unsigned starts and decisions outright"
	case c.Policy.AllowedSigners != "":
		msg += " (" + strings.Join(unkeyed, ", ") + ", unless " + c.Policy.AllowedSigners + " lists them)"
	default:
		msg += " (" + strings.Join(unkeyed, ", ") + ")"
	}
	return msg + "; people with keys must still sign. Turn policy.require_signatures on, with keys for everyone"
}

// KeyHolders lists every key of approvers[].keys and public_key with its person, and, for
// each approver, the lines of signers (the allowed signers file) that let them sign.
func (c *Config) KeyHolders(signers identity.AllowedSigners) []identity.KeyHolder {
	var (
		holders []identity.KeyHolder
		names   []string
	)
	for i, a := range c.Approvers {
		names = append(names, a.Name)
		for j, k := range a.Keys {
			if line, err := identity.ParseKeyLine(k); err == nil {
				holders = append(holders, identity.KeyHolder{Key: line.Key, Name: a.Name, Where: fmt.Sprintf("approvers[%d].keys[%d]", i, j)})
			}
		}
		if a.PublicKey != "" {
			if k, err := bareKey(a.PublicKey); err == nil {
				if line, err := identity.ParseKeyLine(k); err == nil {
					holders = append(holders, identity.KeyHolder{Key: line.Key, Name: a.Name, Where: fmt.Sprintf("approvers[%d].public_key", i)})
				}
			}
		}
	}
	return append(holders, signers.Holders(names, identity.Namespace)...)
}

// SharedKeys is one problem for each key listed under two names, in approvers[].keys and
// signers (the allowed signers file, nil when not read): one person could start as one
// name and approve as the other.
func (c *Config) SharedKeys(signers identity.AllowedSigners) []Problem {
	var ps []Problem
	for _, msg := range identity.SharedKeys(c.KeyHolders(signers)) {
		ps = append(ps, Problem{Key: "approvers", Say: msg})
	}
	return ps
}

// sharedKeyProblems checks one key one person over approvers[].keys and, when this
// machine has it, the allowed signers file (the worker checks it again at start and at
// every use).
func (c *Config) sharedKeyProblems() []Problem {
	var signers identity.AllowedSigners
	if path := c.Policy.AllowedSigners; path != "" {
		if b, err := os.ReadFile(path); err == nil {
			list, err := identity.ParseAllowedSigners(b)
			if err != nil {
				return []Problem{{Key: "policy.allowed_signers", Got: path, Want: "an OpenSSH allowed signers file: " + err.Error()}}
			}
			signers = list
		}
	}
	return c.SharedKeys(signers)
}

// reservedSuffix says a stack's name would read as another stack's backup, guard or
// verification workflow (rewind-<stack>-backup …).
func reservedSuffix(name string) bool {
	for _, suffix := range []string{"-backup", "-drill", "-guard", "-verify"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}
