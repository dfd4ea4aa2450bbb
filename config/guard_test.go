package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGuardCriteriaHoldForAWhileByDefault(t *testing.T) {
	cfg, err := Load(writeConfig(t, "stacks:\n  prod: {compose_files: [a.yml]}\n"), nil)
	require.NoError(t, err)
	g := cfg.Stacks["prod"].Guard
	windows := map[string]time.Duration{}
	for _, c := range g.Criteria {
		windows[c.Class+" "+c.Measure] = c.For
	}
	require.Equal(t, 30*time.Second, windows["critical error_ratio"], "critical 5xx over 80% for 30 s")
	require.Equal(t, 30*time.Second, windows["critical data_missing"])
	require.Equal(t, time.Minute, windows["major latency_ratio"])
	require.Equal(t, time.Minute, windows["major error_ratio"])
	require.Zero(t, windows["critical down_for"], "down_for is itself a duration: above 300 s is down for 5 minutes")
	require.Zero(t, windows["critical memory_growth"], "a leak is a climb over six readings already")
	require.False(t, g.RestoreWithoutApproval)
	require.Empty(t, cfg.GuardWarnings())

	c := Criterion{Measure: "error_ratio", Above: 0.8, Class: ClassCritical, For: 30 * time.Second}
	require.Equal(t, 3, c.Samples(15*time.Second), "samples at 0, 15 and 30 s span 30 s")
	require.Equal(t, 11, c.Samples(3*time.Second))
	c.ForSamples = 5
	require.Equal(t, 5, c.Samples(15*time.Second), "both hold: five samples, which span 60 s")
	require.Equal(t, "30s and 5 samples", c.Window())
	require.Equal(t, 1, Criterion{}.Samples(15*time.Second))
	require.Equal(t, "one sample", Criterion{}.Window())
}

func TestGuardCriterionKeepsTheWindowItWasGiven(t *testing.T) {
	cfg, err := Load(writeConfig(t, `stacks:
  prod:
    compose_files: [a.yml]
    guard:
      interval: 2s
      criteria:
        - {measure: error_ratio, above: 0.8, class: critical, for: 8s}
        - {measure: error_ratio, above: 0.2, class: major, for_samples: 4}
        - {measure: latency_ratio, above: 1.5, class: major}
        - {measure: restarts, above: 0, class: minor, for_samples: 1}
`), nil)
	require.NoError(t, err)
	got := cfg.Stacks["prod"].Guard.Criteria
	require.Equal(t, 8*time.Second, got[0].For)
	require.Equal(t, 5, got[0].Samples(2*time.Second))
	require.Zero(t, got[1].For)
	require.Equal(t, 4, got[1].Samples(2*time.Second))
	require.Equal(t, time.Minute, got[2].For, "an unset window takes its measure's default")
	require.Equal(t, 1, got[3].Samples(2*time.Second), "for_samples: 1 judges on a single sample")
}

func TestGuardWindowsAreCheckedWithClearErrors(t *testing.T) {
	_, err := Load(writeConfig(t, `stacks:
  prod:
    compose_files: [a.yml]
    guard:
      interval: 10s
      window: 1m
      option: quick
      restore_without_approval: true
      criteria:
        - {measure: error_ratio, above: 0.8, class: critical, for: 2m}
        - {measure: error_ratio, above: 0.2, class: major, for: -1s}
        - {measure: restarts, above: 2, class: major, for_samples: 20}
`), nil)
	require.Error(t, err)
	for _, want := range []string{
		"stacks.prod.guard.criteria[0].for: got 2m0s, want how long the measure must stay above the limit before it counts: 0s to the guard's window (1m0s), like 30s",
		"stacks.prod.guard.criteria[1].for: got -1s",
		"stacks.prod.guard.criteria[2].for_samples: got 20, want how many samples in a row must be above the limit: 1 or more, as many as the window holds (1m0s every 10s), like 5",
		"stacks.prod.guard.restore_without_approval: got true, want false, or option: full",
	} {
		require.ErrorContains(t, err, want)
	}
}

func TestGuardThatRestoresWithoutApprovalIsWarnedAbout(t *testing.T) {
	cfg, err := Load(writeConfig(t, "stacks:\n  prod:\n    compose_files: [a.yml]\n    guard: {option: full, restore_without_approval: true}\n  staging:\n    compose_files: [a.yml]\n    guard: {option: full}\n"), nil)
	require.NoError(t, err, "it is allowed, said in so many words")
	ws := cfg.GuardWarnings()
	require.Len(t, ws, 1, "only the stack that says so")
	require.Contains(t, ws[0], "stacks.prod.guard.restore_without_approval is on: the guard restores the last backup over the stack's data at P1 on a critical finding, with no one approving")
}

func TestGuardDefaultWindowsFitAShortGuardWindow(t *testing.T) {
	cfg, err := Load(writeConfig(t, "stacks:\n  prod:\n    compose_files: [a.yml]\n    guard: {interval: 2s, window: 40s}\n"), nil)
	require.NoError(t, err, "a guard shorter than a default window is still a valid guard")
	for _, c := range cfg.Stacks["prod"].Guard.Criteria {
		require.LessOrEqual(t, c.For, 40*time.Second, "%s %s", c.Class, c.Measure)
	}
}
