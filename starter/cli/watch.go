package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/spf13/cobra"

	"github.com/algotrendy/rewind/workflows/api"
)

// NewCmdWatch builds `rewind watch ID`: the checklist redrawn as it moves.
func NewCmdWatch(o *Options) *cobra.Command {
	var interval, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "watch ID|STACK",
		Short: "Follow a rollback's checklist until it ends; exit 1 if it failed",
		Long: `Follow a rollback until it ends: exit 0 when it completed, 1 when it failed, was
rejected or cancelled, or --timeout passed first (the rollback goes on).

On a terminal the checklist is redrawn in place when something changes, with a progress
bar, rate and time left for restores. Piped, each line is printed once when it changes.`,
		Example: "  rewind watch prod\n  rewind watch rewind-prod --timeout 30m | tee rollback.log",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := api.IDOf(args[0])
			f := &follower{id: id, scr: newScreen(o.Out)}
			var deadline time.Time
			if timeout > 0 {
				deadline = time.Now().Add(timeout)
			}
			for {
				v, err := o.status(cmd, id)
				if err != nil {
					return err
				}
				now := time.Now()
				if ended, err := f.see(v, now); ended {
					return err
				}
				if !deadline.IsZero() && now.After(deadline) {
					return fmt.Errorf("rollback %s is still running after %s; it goes on: `rewind watch %s` follows it again", id, human(timeout), id)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "how often to look")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up watching after this long (exit 1; the rollback goes on); 0 watches until it ends")
	return cmd
}

// follower draws successive looks at one rollback and says when it has ended.
type follower struct {
	id    string
	scr   *screen
	rates map[string]rate
}

// see draws the rollback as it was at now; once it has ended it reports so, with the
// error to exit with when it did not complete.
func (f *follower) see(v StatusView, now time.Time) (ended bool, err error) {
	f.rates = measure(f.rates, v.Running, now)
	f.scr.show(statusLines(v, f.rates, f.scr.clock(now)), now)
	switch v.Status {
	case "running":
		return false, nil
	case "completed":
		return true, nil
	}
	return true, fmt.Errorf("rollback %s ended %s: %s", f.id, v.Status, v.Progress.Notice)
}

// rate is how fast a transfer in flight moves, from two looks at its progress.
type rate struct {
	done      int64
	at        time.Time
	perSecond float64
}

// measure updates each running transfer's rate from its progress now; finished ones drop out.
func measure(prev map[string]rate, running []RunningStep, now time.Time) map[string]rate {
	next := map[string]rate{}
	for _, r := range running {
		if r.Total == 0 {
			continue
		}
		cur := rate{done: r.Done, at: now}
		if p, ok := prev[r.Activity]; ok {
			cur.perSecond = p.perSecond
			if r.Done > p.done {
				cur.perSecond = float64(r.Done-p.done) / now.Sub(p.at).Seconds()
			}
			if r.Done == p.done {
				cur = p // no new heartbeat yet: keep the last measurement
			}
		}
		next[r.Activity] = cur
	}
	return next
}

// screen shows successive checklists: redrawn in place on a terminal, or as the lines
// that changed when piped. Both skip a checklist equal to the last one.
type screen struct {
	w     io.Writer
	tty   bool
	width int
	// shown is the last checklist drawn; printed the lines printed when piped, and when
	// the in-flight ones were last printed.
	shown    []string
	printed  map[string]bool
	inFlight time.Time
}

func newScreen(w io.Writer) *screen {
	s := &screen{w: w, printed: map[string]bool{}}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.tty = true
		s.width, _, _ = term.GetSize(int(f.Fd()))
	}
	return s
}

// clock is the time running steps are measured against: none when piped, where a line
// that changed every second would be printed every second.
func (s *screen) clock(now time.Time) time.Time {
	if s.tty {
		return now
	}
	return time.Time{}
}

// pipedInFlightEvery is how often piped output repeats the lines of steps in flight.
const pipedInFlightEvery = 5 * time.Second

func (s *screen) show(lines []string, now time.Time) {
	if slices.Equal(lines, s.shown) {
		return
	}
	if !s.tty {
		inFlight := now.Sub(s.inFlight) >= pipedInFlightEvery
		for _, l := range lines {
			running := strings.HasPrefix(l, "    ↻ ")
			if s.printed[l] || (running && !inFlight) {
				continue
			}
			if running {
				s.inFlight = now
			}
			s.printed[l] = true
			fmt.Fprintln(s.w, l)
		}
		s.shown = lines
		return
	}
	// Back to the first line of the last checklist and over it, each line cleared to its
	// end as it is written: clearing the whole screen instead would push every frame into
	// the terminal's scrollback.
	var b strings.Builder
	if len(s.shown) > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r", len(s.shown))
	}
	for _, l := range lines {
		b.WriteString(fit(l, s.width) + "\x1b[K\n")
	}
	if extra := len(s.shown) - len(lines); extra > 0 {
		// The last checklist was longer: blank its remaining lines and come back up.
		fmt.Fprintf(&b, "%s\x1b[%dA", strings.Repeat("\x1b[K\n", extra), extra)
	}
	_, _ = io.WriteString(s.w, b.String())
	s.shown = lines
}

// fit cuts a line to the terminal's width, so each line takes one row and the redraw
// knows how far to go back.
func fit(l string, width int) string {
	if width <= 1 || utf8.RuneCountInString(l) < width {
		return l
	}
	r := []rune(l)
	return string(r[:width-2]) + "…"
}
