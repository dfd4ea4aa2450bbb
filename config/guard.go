package config

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Guard is how Rewind watches a fresh deploy of the stack (`rewind guard`, `rewind
// deployed`) and what it does about what it sees: the runbook's "When to Execute
// Rollback", as criteria with limits.
type Guard struct {
	// Interval is how often the stack is sampled; Window how long after a deploy.
	Interval time.Duration `mapstructure:"interval"`
	Window   time.Duration `mapstructure:"window"`
	// Option is the rollback a critical finding starts at P1 and a major one proposes at P2.
	// A full rollback restores data from a backup, which is never automatic on the guard's
	// word alone: a critical finding proposes it at P2 for an approver, unless
	// RestoreWithoutApproval says, in so many words, that it may start it at P1.
	Option                 string `mapstructure:"option"`
	RestoreWithoutApproval bool   `mapstructure:"restore_without_approval"`
	// Probes is how many requests each sample sends to the functional endpoint.
	Probes int `mapstructure:"probes"`
	// LostPatterns are log lines that mean the exchange connection is lost.
	LostPatterns []string `mapstructure:"lost_patterns"`
	// Baseline is how many first samples set the latency baseline; LatencyFloor the least
	// baseline a ratio is taken against, so a 2 ms API that answers in 4 ms is not "down
	// 50%" (default 50ms).
	Baseline     int           `mapstructure:"baseline"`
	LatencyFloor time.Duration `mapstructure:"latency_floor"`
	// Criteria fire when their measure goes above their limit; default: the runbook's table.
	Criteria []Criterion `mapstructure:"criteria"`
}

// Criterion is one line of the runbook's table: a measure, its limit, its class, and how
// long the measure must stay above the limit before the criterion counts.
type Criterion struct {
	Measure string  `mapstructure:"measure"`
	Above   float64 `mapstructure:"above"`
	Class   string  `mapstructure:"class"`
	// For is how long the measure must stay above the limit in every sample, from the
	// first sample over it to the latest; ForSamples how many samples in a row at least.
	// When both are set both must hold. Unset (both zero), a criterion takes its measure's
	// default window (DefaultFor); for_samples: 1 judges on a single sample.
	For        time.Duration `mapstructure:"for"`
	ForSamples int           `mapstructure:"for_samples"`
}

// Samples is how many samples in a row, taken every interval, the criterion needs above
// its limit before it counts: at least ForSamples, and enough to span For.
func (c Criterion) Samples(interval time.Duration) int {
	n := max(c.ForSamples, 1)
	if c.For > 0 && interval > 0 {
		n = max(n, int((c.For+interval-1)/interval)+1)
	}
	return n
}

// Window says in words how long the criterion must hold: "30s", "5 samples", "30s and 5
// samples", or "one sample".
func (c Criterion) Window() string {
	switch {
	case c.For > 0 && c.ForSamples > 1:
		return fmt.Sprintf("%s and %d samples", c.For, c.ForSamples)
	case c.For > 0:
		return c.For.String()
	case c.ForSamples > 1:
		return fmt.Sprintf("%d samples", c.ForSamples)
	}
	return "one sample"
}

// DefaultFor is how long a measure must hold above a limit of its class before it counts,
// as the runbook means its table: conditions that last, not single looks. Measures that
// are already sustained (down_for is a duration, memory_growth a climb over six readings,
// health_failures a count in a row, restarts a count since the start) and events (a log
// line of a lost connection) count on the sample that shows them.
func DefaultFor(measure, class string) time.Duration {
	switch measure {
	case "error_ratio":
		switch class {
		case ClassCritical:
			return 30 * time.Second
		case ClassMajor:
			return time.Minute
		}
	case "data_missing":
		return 30 * time.Second
	case "latency_ratio":
		return time.Minute
	}
	return 0
}

// Classes of criteria, as the runbook ranks them: critical rolls back at once (P1), major
// proposes a rollback for approval (P2), minor is recorded.
const (
	ClassCritical = "critical"
	ClassMajor    = "major"
	ClassMinor    = "minor"
)

// Measures are the guard's measures, each in its own unit.
func Measures() map[string]string {
	return map[string]string{
		"down_for":        "seconds a container has been down or unhealthy (services fail to start within 5 minutes)",
		"error_ratio":     "share of requests to the functional endpoint answered 5xx or not at all (0..1)",
		"lost_connection": "log lines matching lost_patterns since the last sample",
		"data_missing":    "1 when the data query fails or counts nothing (database corruption, integrity violations)",
		"memory_growth":   "MiB per minute the containers' memory keeps growing, sustained over the last samples (a leak, not a spike)",
		"latency_ratio":   "median latency of the functional endpoint over the deploy's baseline (performance down more than 50%: 1.5)",
		"health_failures": "failed health checks in a row (health checks failing consistently)",
		"restarts":        "container restarts since the guard started",
	}
}

// RunbookCriteria is the runbook's "When to Execute Rollback" table.
func RunbookCriteria() []Criterion {
	return []Criterion{
		{Measure: "down_for", Above: 300, Class: ClassCritical},
		{Measure: "error_ratio", Above: 0.8, Class: ClassCritical},
		{Measure: "lost_connection", Above: 0, Class: ClassCritical},
		{Measure: "data_missing", Above: 0, Class: ClassCritical},
		{Measure: "memory_growth", Above: 10, Class: ClassCritical},
		{Measure: "latency_ratio", Above: 1.5, Class: ClassMajor},
		{Measure: "health_failures", Above: 2, Class: ClassMajor},
		{Measure: "error_ratio", Above: 0.2, Class: ClassMajor},
		{Measure: "restarts", Above: 2, Class: ClassMajor},
		{Measure: "error_ratio", Above: 0, Class: ClassMinor},
	}
}

func (g *Guard) fillDefaults() {
	if g.Interval == 0 {
		g.Interval = 15 * time.Second
	}
	if g.Window == 0 {
		g.Window = 30 * time.Minute
	}
	if g.Option == "" {
		g.Option = "quick"
	}
	if g.Probes == 0 {
		g.Probes = 5
	}
	if g.LostPatterns == nil {
		g.LostPatterns = []string{"(?i)lost connection", "(?i)exchange connectivity lost"}
	}
	if g.Baseline == 0 {
		g.Baseline = 3
	}
	if g.LatencyFloor == 0 {
		g.LatencyFloor = 50 * time.Millisecond
	}
	if g.Criteria == nil {
		g.Criteria = RunbookCriteria()
	}
	g.Criteria = slices.Clone(g.Criteria)
	for i, c := range g.Criteria {
		if c.For == 0 && c.ForSamples == 0 {
			// A window shorter than the default still counts what held all of it.
			g.Criteria[i].For = min(DefaultFor(c.Measure, c.Class), max(g.Window, 0))
		}
	}
}

// Warnings says what a guard's configuration lets it do that people should know about:
// restoring a backup over the stack's data on its own word.
func (g Guard) Warnings(key string) []string {
	if g.Option == "full" && g.RestoreWithoutApproval {
		return []string{key + ".restore_without_approval is on: the guard restores the last backup over " +
			"the stack's data at P1 on a critical finding, with no one approving, and everything written since " +
			"that backup is lost; turn it off so a full rollback is proposed at P2 and waits for an approver"}
	}
	return nil
}

// GuardWarnings lists every stack's guard warnings, for `rewind config check`.
func (c *Config) GuardWarnings() []string {
	var ws []string
	for _, name := range c.StackNames() {
		ws = append(ws, c.Stacks[name].Guard.Warnings("stacks."+name+".guard")...)
	}
	return ws
}

func (g Guard) problems(key string, add func(key, got, want string)) {
	if g.Interval < time.Second {
		add(key+".interval", g.Interval.String(), "at least 1s (default 15s)")
	}
	if g.Window < g.Interval {
		add(key+".window", g.Window.String(), "longer than the interval (default 30m)")
	}
	if !slices.Contains([]string{"quick", "full", "git"}, g.Option) {
		add(key+".option", quote(g.Option), "the rollback to start: quick, full or git")
	}
	if g.RestoreWithoutApproval && g.Option != "full" {
		add(key+".restore_without_approval", "true", "false, or option: full: only a full rollback restores a backup (it says the guard may start one at P1 without an approver)")
	}
	if g.LatencyFloor < 0 {
		add(key+".latency_floor", g.LatencyFloor.String(), "a duration of zero or more (default 50ms)")
	}
	if g.Probes < 1 || g.Probes > 50 {
		add(key+".probes", strconv.Itoa(g.Probes), "1 to 50 requests a sample")
	}
	for i, c := range g.Criteria {
		ck := fmt.Sprintf("%s.criteria[%d]", key, i)
		if _, ok := Measures()[c.Measure]; !ok {
			add(ck+".measure", quote(c.Measure), "one of "+measureNames())
		}
		if !slices.Contains([]string{ClassCritical, ClassMajor, ClassMinor}, c.Class) {
			add(ck+".class", quote(c.Class), "critical, major or minor")
		}
		if c.Above < 0 {
			add(ck+".above", strconv.FormatFloat(c.Above, 'g', -1, 64), "a limit of zero or more")
		}
		if c.For < 0 || c.For > g.Window {
			add(ck+".for", c.For.String(), fmt.Sprintf("how long the measure must stay above the limit before it counts: 0s to the guard's window (%s), like 30s", g.Window))
		}
		if c.ForSamples < 0 || (g.Interval > 0 && c.ForSamples > 1 && time.Duration(c.ForSamples-1)*g.Interval > g.Window) {
			add(ck+".for_samples", strconv.Itoa(c.ForSamples), fmt.Sprintf("how many samples in a row must be above the limit: 1 or more, as many as the window holds (%s every %s), like 5", g.Window, g.Interval))
		}
	}
}

func measureNames() string {
	names := make([]string, 0, len(Measures()))
	for m := range Measures() {
		names = append(names, m)
	}
	slices.Sort(names)
	return fmt.Sprint(names)
}
