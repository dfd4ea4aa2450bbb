package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestExampleConfigLoadsWithTheRunbooksPolicy(t *testing.T) {
	cfg, err := Load("../rewind.example.yaml", nil)
	require.NoError(t, err)

	prod, err := cfg.Stack("prod")
	require.NoError(t, err)
	require.Equal(t, "algotrendy_v26", prod.Project)
	require.Equal(t, []Volume{{Name: "algotrendy_v26_questdb_data", Pattern: "questdb_backup_*.tar.gz", Layout: "auto"}}, prod.Volumes)
	require.Equal(t, 30*time.Second, prod.StopGracePeriod)
	require.Equal(t, 5*time.Minute, prod.Checks.HealthTimeout)

	for sev, want := range map[string]Rule{
		"P1": {Role: "on-call"},
		"P2": {Role: "senior", DecisionTime: 15 * time.Minute, HardDeadline: time.Hour},
		"p3": {Role: "tech-lead", DecisionTime: time.Hour, HardDeadline: 4 * time.Hour},
	} {
		got, err := cfg.Rule(sev)
		require.NoError(t, err, sev)
		require.Equal(t, want, got, sev)
	}
	require.Equal(t, []string{"on-call", "senior", "tech-lead", "engineering-manager"}, cfg.Severity.Escalation)
}

func TestDefaultsFollowTheRunbookWithoutAFile(t *testing.T) {
	t.Setenv("REWIND_CONFIG", "")
	t.Chdir(t.TempDir())
	cfg, err := Load("", nil)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7233", cfg.Temporal.Address)
	require.Equal(t, "rewind", cfg.Temporal.TaskQueue)
	p2, err := cfg.Rule("P2")
	require.NoError(t, err)
	require.Equal(t, Rule{Role: "senior", DecisionTime: 15 * time.Minute, HardDeadline: time.Hour}, p2)
}

func TestEnvironmentOverridesTheFileAndFlagsOverrideBoth(t *testing.T) {
	p := writeConfig(t, "temporal:\n  address: file:7233\n  namespace: from-file\n")
	t.Setenv("REWIND_TEMPORAL_ADDRESS", "env:7233")
	t.Setenv("REWIND_TEMPORAL_NAMESPACE", "from-env")

	cfg, err := Load(p, nil)
	require.NoError(t, err)
	require.Equal(t, "env:7233", cfg.Temporal.Address)

	flags := pflag.NewFlagSet("t", pflag.ContinueOnError)
	BindFlags(flags)
	require.NoError(t, flags.Parse([]string{"--address", "flag:7233"}))
	cfg, err = Load(p, flags)
	require.NoError(t, err)
	require.Equal(t, "flag:7233", cfg.Temporal.Address)
	require.Equal(t, "from-env", cfg.Temporal.Namespace, "an unset flag leaves the environment's value")
}

func TestEveryMistakeIsReportedAtOnce(t *testing.T) {
	p := writeConfig(t, `
temporal:
  address: no-port-here
stacks:
  prod:
    compose_files: []
approvers:
  - {name: eve, role: boss}
`)
	_, err := Load(p, nil)
	require.Error(t, err)
	require.True(t, IsProblems(err))
	var problems *Problems
	require.ErrorAs(t, err, &problems)
	require.Len(t, problems.List, 3, err.Error())
	msg := err.Error()
	for _, want := range []string{
		`temporal.address: got "no-port-here", want host:port`,
		`stacks.prod.compose_files: got nothing, want at least one compose file`,
		`approvers[0].role: got "boss", want one of on-call, senior, tech-lead, engineering-manager`,
	} {
		require.Contains(t, msg, want)
	}
	require.True(t, strings.HasPrefix(msg, "3 problem(s) in the configuration ("+p+")"))
}

func TestBadInputTable(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"misspelled key", "temporal:\n  adress: x:1\n", "temporal.adress: got an unknown key"},
		{"bad duration", "worker:\n  drain_timeout: soon\n", "worker.drain_timeout: got a value of the wrong type"},
		{"unknown severity", "severity:\n  levels:\n    P4: {role: on-call}\n", "severity.levels.p4"},
		{"deadline before decision", "severity:\n  levels:\n    P2: {role: senior, decision_time: 1h, hard_deadline: 10m}\n", "severity.levels.P2.hard_deadline: got 10m0s, want at least the decision_time 1h0m0s"},
		{"stack name with spaces", "stacks:\n  \"my stack\": {compose_files: [a.yml]}\n", `stacks.my stack: got "my stack"`},
		{"two backup locations", "stacks:\n  prod:\n    compose_files: [a.yml]\n    backups: {dir: /b, s3: {bucket: x}}\n", "stacks.prod.backups: got both dir and s3.bucket"},
		{"duplicate approver", "approvers:\n  - {name: bob, role: senior}\n  - {name: bob, role: senior}\n", `approvers[1].name: got "bob", want a name used once`},
		{"not yaml", "temporal: [unclosed\n", "(file)"},
		{"group of an unknown stack", "stacks:\n  eu: {compose_files: [a.yml]}\ngroups:\n  desks: {stacks: [eu, us]}\n", `groups.desks.stacks[1]: got "us", want a stack listed under stacks: eu`},
		{"group failure policy", "stacks:\n  eu: {compose_files: [a.yml]}\ngroups:\n  desks: {stacks: [eu], on_failure: retry}\n", `groups.desks.on_failure: got "retry", want stop (start no more stacks after a failure) or continue`},
		{"stack named like a group", "stacks:\n  group-eu: {compose_files: [a.yml]}\n", `not starting with group-`},
		{"stack named like another's backup", "stacks:\n  prod-backup: {compose_files: [a.yml]}\n", `nor ending in -backup, -drill, -guard or -verify`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.body), nil)
			require.Error(t, err)
			require.True(t, IsProblems(err))
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestUnknownStackNamesTheKnownOnes(t *testing.T) {
	cfg, err := Load("../rewind.example.yaml", nil)
	require.NoError(t, err)
	_, err = cfg.Stack("nosuch")
	require.EqualError(t, err, `unknown stack "nosuch"; known stacks: prod`)
	_, err = cfg.Rule("P9")
	require.ErrorContains(t, err, `unknown severity "P9"; use P1 (critical), P2 (major) or P3 (minor)`)
}

func TestVolumesAreNamesOrNamesWithTheirOwnBackups(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
stacks:
  prod:
    compose_files: [docker-compose.yml]
    volumes: [db_data, {name: cache_data, pattern: "redis_backup_*.tar.gz", layout: flat}]
    backups: {dir: /backups, pattern: "questdb_backup_*.tar.gz"}
`), 0o600))
	cfg, err := Load(file, nil)
	require.NoError(t, err)
	require.Equal(t, []Volume{
		{Name: "db_data", Pattern: "questdb_backup_*.tar.gz", Layout: "auto"},
		{Name: "cache_data", Pattern: "redis_backup_*.tar.gz", Layout: "flat"},
	}, cfg.Stacks["prod"].Volumes)
}

func TestPlanComesFromTheWorkersConfiguration(t *testing.T) {
	cfg, err := Load("../rewind.example.yaml", nil)
	require.NoError(t, err)
	p, err := cfg.Plan("prod", "p2", "docker-1", map[string][]string{"bob": {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv0 bob@laptop"}})
	require.NoError(t, err)
	require.Equal(t, "rewind@docker-1", p.HostQueue)
	require.Equal(t, "P2", p.Policy.Severity)
	require.Equal(t, "senior", p.Policy.Rule.Role)
	bob, ok := p.Policy.Person("bob")
	require.True(t, ok)
	require.Equal(t, "senior", bob.Role)
	require.Equal(t, []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOyfIGaBjnXrp+lRrbsw4AxkhKSXqkkDgP2U1txgm97N bob@algotrendy", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv0 bob@laptop"}, bob.Keys, "keys from the allowed signers file count too")
	require.Greater(t, p.Policy.Rank("tech-lead"), p.Policy.Rank("senior"))

	_, err = cfg.Plan("staging", "P2", "docker-1", nil)
	require.ErrorIs(t, err, ErrUnknownStack)
	require.ErrorContains(t, err, `unknown stack "staging"; this worker's configuration lists: prod`)
}
