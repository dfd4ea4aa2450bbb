package docker

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/algotrendy/rewind/failure"
	"go.temporal.io/sdk/temporal"
)

// LogsCheck says which patterns the project's recent logs must and must not show.
type LogsCheck struct {
	Project  string
	Tail     int
	MustHave []string
	MustLack []string
}

// LogsResult is the verdict with the lines that decided it.
type LogsResult struct {
	Passed   bool
	Evidence string
}

// CheckLogs is the runbook's `docker-compose logs --tail=50 | grep ...`: every MustHave
// pattern appears and no MustLack pattern does (patterns are regular expressions).
func (a *Activities) CheckLogs(ctx context.Context, in LogsCheck) (LogsResult, error) {
	tail := in.Tail
	if tail <= 0 {
		tail = 50
	}
	cs, err := a.projectContainers(ctx, in.Project, true)
	if err != nil {
		return LogsResult{}, err
	}
	var logs bytes.Buffer
	for _, c := range cs {
		if err := a.containerLogs(ctx, c, tail, &logs); err != nil {
			return LogsResult{}, err
		}
	}
	res := LogsResult{Passed: true}
	var notes []string
	for _, group := range []struct {
		patterns []string
		want     bool
	}{{in.MustHave, true}, {in.MustLack, false}} {
		for _, p := range group.patterns {
			re, err := regexp.Compile(p)
			if err != nil {
				return LogsResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("log pattern %q: %v", p, err), failure.BadInput, err)
			}
			line := firstMatch(re, logs.String())
			switch {
			case group.want && line == "":
				res.Passed = false
				notes = append(notes, fmt.Sprintf("missing %q", p))
			case group.want:
				notes = append(notes, fmt.Sprintf("found %q: %s", p, line))
			case line != "":
				res.Passed = false
				notes = append(notes, fmt.Sprintf("found unwanted %q: %s", p, line))
			}
		}
	}
	res.Evidence = fmt.Sprintf("last %d lines of %d containers; %s", tail, len(cs), strings.Join(notes, "; "))
	return res, nil
}

func firstMatch(re *regexp.Regexp, text string) string {
	for _, line := range strings.Split(text, "\n") {
		if re.MatchString(line) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
