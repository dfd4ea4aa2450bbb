package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/retention"
	"github.com/algotrendy/rewind/storage"
)

// freshness says, per volume, how old its newest proven backup is: what a full rollback
// now would lose, and whether that is over backups.max_age.
func freshness(s config.Stack, views []BackupView, now time.Time) []string {
	var out []string
	for _, v := range s.Volumes {
		prefix := "freshness: "
		if len(s.Volumes) > 1 {
			prefix = "freshness of " + v.Name + ": "
		}
		// views are newest first within a volume.
		i := slices.IndexFunc(views, func(b BackupView) bool { return b.Volume == v.Name && b.Proven() })
		if i < 0 {
			out = append(out, prefix+"no backup has been proven by a drill; a full rollback would restore one no drill has started the database on")
			continue
		}
		b := views[i]
		// When it was taken, as retention reads it: the time in its name (a copy's
		// modification time says when it was copied).
		age := now.Sub(b.Taken())
		line := fmt.Sprintf("%snewest proven backup %s old (%s): a full rollback now loses what was written since", prefix, ago(age), b.Name)
		if s.Backups.MaxAge > 0 && age > s.Backups.MaxAge {
			line += fmt.Sprintf("; over backups.max_age (%s): take a backup and drill it", ago(s.Backups.MaxAge))
		}
		out = append(out, line)
	}
	return out
}

// Taken is when the backup was made: the time in its name, else its modification time.
func (b BackupView) Taken() time.Time {
	return backups.Taken(storage.Object{Name: b.Name, ModTime: b.Modified})
}

// ago is a duration as people say it: "3 h 12 min", "45 min", "20 s".
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute).Minutes()))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
}

// PruneView is what retention would do to one backup.
type PruneView struct {
	Volume string
	Name   string
	Keep   bool
	Why    []string
}

// prunePlan decides as the worker's PruneBackups does after each backup: per volume, the
// backups Rewind wrote go through retention.Decide with their drills; the rest stay, and
// all stay when some drill records could not be read (unread), as the worker keeps them.
func prunePlan(s config.Stack, views []BackupView, unread error) []PruneView {
	var out []PruneView
	if unread != nil {
		for _, b := range views {
			out = append(out, PruneView{Volume: b.Volume, Name: b.Name, Keep: true, Why: []string{"drill records unreadable: the newest proven backup is unknown, so nothing goes"}})
		}
		return out
	}
	for _, v := range s.Volumes {
		var ours []retention.Backup
		var notOurs []PruneView
		for _, b := range views {
			switch {
			case b.Volume != v.Name:
			case b.Ours:
				ours = append(ours, retention.Backup{Name: b.Name, Taken: b.Taken(), Proven: b.Proven()})
			default:
				notOurs = append(notOurs, PruneView{Volume: v.Name, Name: b.Name, Keep: true, Why: []string{"not written by rewind backup: never removed"}})
			}
		}
		for _, d := range retention.Decide(s.Backups.Keep, ours) {
			out = append(out, PruneView{Volume: v.Name, Name: d.Name, Keep: d.Keep, Why: d.Why})
		}
		out = append(out, notOurs...)
	}
	return out
}

func printPrunePlan(w io.Writer, s config.Stack, plan []PruneView) {
	fmt.Fprintf(w, "backups.keep: %s (the worker applies it after each rewind backup; nothing goes while a rollback of the stack runs). Nothing was removed.\n", s.Backups.Keep)
	if len(plan) == 0 {
		fmt.Fprintln(w, "no backups found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tBACKUP\tWOULD\tWHY")
	removed := 0
	for _, p := range plan {
		would := "keep"
		if !p.Keep {
			would, removed = "REMOVE", removed+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Volume, p.Name, would, strings.Join(p.Why, ", "))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d of %d would be removed, each with its sidecars\n", removed, len(plan))
}
