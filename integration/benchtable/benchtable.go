// Package benchtable collects what `make bench` prints: each benchmark adds the rows it
// measured to one Markdown table ($REWIND_BENCH_TABLE) and every raw run to a TSV file
// ($REWIND_BENCH_RUNS), so ratios measured side by side in one run land in one place.
package benchtable

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Row is one measure. Runbook is empty where the runbook has no counterpart; Goal says
// what is wanted, and Met whether it was.
type Row struct {
	Measure string
	Rewind  string
	Runbook string
	Ratio   float64
	Goal    string
	Met     bool
}

// Add logs the row and appends it to the table, when one is named.
func Add(tb testing.TB, r Row) {
	tb.Helper()
	ratio, met := "", ""
	if r.Ratio > 0 {
		ratio = fmt.Sprintf("%.2f×", r.Ratio)
	}
	if r.Goal != "" {
		met = map[bool]string{true: "yes", false: "**no**"}[r.Met]
	}
	line := fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n", r.Measure, r.Rewind, r.Runbook, ratio, r.Goal, met)
	tb.Log(strings.TrimSpace(line))
	appendTo(tb, os.Getenv("REWIND_BENCH_TABLE"), line)
}

// Raw appends one run's figures, tab-separated after the measure's name.
func Raw(tb testing.TB, measure string, fields ...any) {
	tb.Helper()
	parts := []string{time.Now().UTC().Format(time.RFC3339), measure}
	for _, f := range fields {
		parts = append(parts, fmt.Sprint(f))
	}
	appendTo(tb, os.Getenv("REWIND_BENCH_RUNS"), strings.Join(parts, "\t")+"\n")
}

func appendTo(tb testing.TB, path, line string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		tb.Fatalf("bench table %s: %v", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		tb.Fatalf("bench table %s: %v", path, err)
	}
}

// Seconds formats a duration as the table shows it.
func Seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// MiB formats bytes as the table shows them.
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
