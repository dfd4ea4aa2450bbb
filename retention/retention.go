// Package retention decides which backups a keep policy keeps, the way restic's
// `forget --keep-last/--keep-daily/--keep-weekly/--keep-monthly` reads: a backup is kept
// when any rule keeps it, and some backups are never removed whatever the rules say.
package retention

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Policy is `backups.keep` of a stack. A zero Policy keeps everything: retention is
// opt-in, since removing a backup cannot be undone.
type Policy struct {
	// Last keeps the newest N backups.
	Last int `mapstructure:"last"`
	// Daily, Weekly and Monthly keep the newest backup of each of the newest N days, ISO
	// weeks and months that have one (in UTC).
	Daily   int `mapstructure:"daily"`
	Weekly  int `mapstructure:"weekly"`
	Monthly int `mapstructure:"monthly"`
}

// IsZero reports whether the policy names no rule, and so keeps every backup.
func (p Policy) IsZero() bool { return p == Policy{} }

// Validate names a negative count.
func (p Policy) Validate() error {
	for _, r := range p.rules() {
		if r.n < 0 {
			return fmt.Errorf("keep.%s is %d: want 0 (no such rule) or more", r.name, r.n)
		}
	}
	return nil
}

// String is the policy as `rewind backups` prints it.
func (p Policy) String() string {
	if p.IsZero() {
		return "keep everything"
	}
	var parts []string
	for _, r := range p.rules() {
		if r.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r.name, r.n))
		}
	}
	return "keep " + strings.Join(parts, ", ")
}

type rule struct {
	name   string
	n      int
	period func(time.Time) string // "" for Last: every backup is its own period
}

func (p Policy) rules() []rule {
	return []rule{
		{"last", p.Last, nil},
		{"daily", p.Daily, func(t time.Time) string { return t.UTC().Format("2006-01-02") }},
		{"weekly", p.Weekly, func(t time.Time) string {
			y, w := t.UTC().ISOWeek()
			return fmt.Sprintf("%d-W%02d", y, w)
		}},
		{"monthly", p.Monthly, func(t time.Time) string { return t.UTC().Format("2006-01") }},
	}
}

// Backup is one backup as retention sees it.
type Backup struct {
	Name  string
	Taken time.Time
	// Proven: a restore drill of it passed.
	Proven bool
	// Held names why it must stay whatever the rules say (a running rollback chose it);
	// "" when nothing holds it.
	Held string
}

// Decision is what happens to one backup, and why.
type Decision struct {
	Backup
	Keep bool
	// Why lists the rules or holds that keep it ("daily 2026-12-01", "newest proven"),
	// or says why it goes.
	Why []string
}

// Decide applies the policy to backups (any order) and returns one decision each,
// newest first. The newest proven backup and held backups are always kept; a zero
// policy keeps everything.
func Decide(p Policy, backups []Backup) []Decision {
	ds := make([]Decision, len(backups))
	for i, b := range backups {
		ds[i] = Decision{Backup: b}
	}
	slices.SortStableFunc(ds, func(a, b Decision) int { return b.Taken.Compare(a.Taken) })
	if p.IsZero() {
		for i := range ds {
			ds[i].keep("no keep policy")
		}
		return ds
	}
	for _, r := range p.rules() {
		seen := map[string]bool{}
		for i := range ds {
			if len(seen) == r.n {
				break
			}
			period := ds[i].Name
			if r.period != nil {
				period = r.period(ds[i].Taken)
			}
			if seen[period] {
				continue
			}
			seen[period] = true
			label := r.name
			if r.period != nil {
				label += " " + period
			}
			ds[i].keep(label)
		}
	}
	for i := range ds {
		if ds[i].Proven {
			ds[i].keep("newest proven")
			break
		}
	}
	for i := range ds {
		if ds[i].Held != "" {
			ds[i].keep(ds[i].Held)
		}
		if !ds[i].Keep {
			ds[i].Why = []string{"no rule keeps it"}
		}
	}
	return ds
}

func (d *Decision) keep(why string) {
	d.Keep = true
	d.Why = append(d.Why, why)
}
