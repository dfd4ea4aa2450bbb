// Package benchtable collects what `make bench` prints: each benchmark adds the rows it
// measured to one Markdown table ($REWIND_BENCH_TABLE) and every raw run to a TSV file
// ($REWIND_BENCH_RUNS), so ratios measured side by side in one run land in one place.
package benchtable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Header heads the table; the first row added writes it.
const Header = "| measure | Rewind, host's tools | Rewind, tools hidden | runbook's commands | ratio | ratio, tools hidden | goal | met |\n|---|---|---|---|---|---|---|---|\n"

// Row is one measure. Rewind is measured with the host's tools (igzip, pigz); Hidden,
// where the row has it, with them hidden from the worker's PATH, as on a bare host.
// Runbook is empty where the runbook has no counterpart; Goal says what is wanted, and Met
// whether every column measured meets it.
type Row struct {
	Measure     string
	Rewind      string
	Hidden      string
	Runbook     string
	Ratio       float64
	HiddenRatio float64
	Goal        string
	Met         bool
}

// Add logs the row and appends it to the table, when one is named.
func Add(tb testing.TB, r Row) {
	tb.Helper()
	met := ""
	if r.Goal != "" {
		met = map[bool]string{true: "yes", false: "**no**"}[r.Met]
	}
	line := fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Measure, r.Rewind, r.Hidden, r.Runbook, times(r.Ratio), times(r.HiddenRatio), r.Goal, met)
	tb.Log(strings.TrimSpace(line))
	table := os.Getenv("REWIND_BENCH_TABLE")
	if _, err := os.Stat(table); table != "" && errors.Is(err, fs.ErrNotExist) {
		line = Header + line
	}
	appendTo(tb, table, line)
}

func times(ratio float64) string {
	if ratio <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", ratio)
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

// PrintPeakRSS writes this process's peak resident memory (VmHWM) for ChildPeakRSS to
// read; a bench child calls it as it ends.
func PrintPeakRSS() {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for line := range strings.Lines(string(status)) {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var n int64
			if _, err := fmt.Sscanf(strings.TrimSpace(kb), "%d kB", &n); err == nil {
				fmt.Printf("child-peak-rss=%d\n", n<<10)
			}
		}
	}
}

// ChildPeakRSS is a finished bench child's peak resident memory in bytes: what it printed
// with PrintPeakRSS, else its rusage, which on Linux is at least the parent's size at
// fork (the high-water mark survives exec).
func ChildPeakRSS(cmd *exec.Cmd, out string) int64 {
	if i := strings.LastIndex(out, "child-peak-rss="); i >= 0 {
		var n int64
		if _, err := fmt.Sscanf(out[i:], "child-peak-rss=%d", &n); err == nil {
			return n
		}
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
}
