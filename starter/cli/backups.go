package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/storage"
)

// localStack is a stack as this host's rewind.yaml describes it: `backups` and `plan`
// read the store and the checkout themselves, so they run where the worker does.
func (o *Options) localStack(name string) (*config.Config, config.Stack, error) {
	cfg, err := o.Config()
	if err != nil {
		return nil, config.Stack{}, err
	}
	if name == "" {
		return nil, config.Stack{}, badInputf("name the stack: --stack NAME (this rewind.yaml lists: %s)", strings.Join(cfg.StackNames(), ", "))
	}
	s, err := cfg.Stack(name)
	if err != nil {
		return nil, config.Stack{}, badInputf("%v; run this on the stack's Docker host, with the worker's rewind.yaml", err)
	}
	return cfg, s, nil
}

// BackupView is one line of `rewind backups`.
type BackupView struct {
	Volume   string
	Name     string
	Modified time.Time
	Size     int64
	// Checksum is the sidecar's sha256, empty without one.
	Checksum string `json:",omitempty"`
	// Last is the last time Rewind read the backup whole, if ever.
	Last *backups.Verdict `json:",omitempty"`
}

// NewCmdBackups builds `rewind backups STACK`.
func NewCmdBackups(o *Options) *cobra.Command {
	var verify bool
	cmd := &cobra.Command{
		Use:   "backups STACK",
		Short: "List a stack's backups, newest first, with what Rewind last found in each",
		Long: `List the backups of each of the stack's volumes, newest first: age, size, whether a
.sha256 sidecar records its checksum, and the last time Rewind read it whole (a full
rollback's staging restore, or --verify) with what it found.

--verify reads every backup now as a full rollback would check it (sha256 against the
sidecar, every tar entry), records the result, and changes nothing else. It reads the
store and runs on the stack's Docker host, with the worker's rewind.yaml.`,
		Example: "  rewind backups prod\n  rewind backups prod --verify\n  rewind start full --stack prod --severity P2 --reason \"...\" --backup questdb_backup_20261125_020000.tar.gz",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, s, err := o.localStack(args[0])
			if err != nil {
				return err
			}
			views, err := listBackups(cmd, cfg, args[0], s)
			if err != nil {
				return err
			}
			if verify {
				verdicts := backups.Verdicts{Dir: backups.VerdictsDir(cfg.Worker.StateDir)}
				for i := range views {
					by := "rewind backups --verify"
					if who := firstNonEmpty(cfg.Identity.Name, os.Getenv("USER")); who != "" {
						by += " by " + who
					}
					v := readWhole(cmd, s, views[i], by, o.Err)
					if err := verdicts.Record(args[0], v); err != nil {
						return err
					}
					views[i].Last = &v
				}
			}
			if o.JSON {
				return o.printJSON(views)
			}
			printBackups(o.Out, views, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "read every backup whole now and record what it holds")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

// listBackups lists every volume's backups with their sidecars and last verdicts.
func listBackups(cmd *cobra.Command, cfg *config.Config, stack string, s config.Stack) ([]BackupView, error) {
	verdicts, err := backups.Verdicts{Dir: backups.VerdictsDir(cfg.Worker.StateDir)}.Load(stack)
	if err != nil {
		return nil, err
	}
	var views []BackupView
	for _, v := range s.Volumes {
		listed, err := listVolume(cmd.Context(), s.Backups.Location(), v.Pattern)
		if err != nil {
			return nil, fmt.Errorf("list the backups of %s: %w", v.Name, err)
		}
		for _, l := range listed {
			bv := BackupView{Volume: v.Name, Name: l.Name, Modified: l.ModTime, Size: l.Size, Checksum: l.SHA256}
			if last, ok := verdicts[l.Name]; ok {
				bv.Last = &last
			}
			views = append(views, bv)
		}
	}
	return views, nil
}

// listVolume lists one volume's backups with their sidecars.
func listVolume(ctx context.Context, l storage.Location, pattern string) ([]backups.Listed, error) {
	store, err := backups.Open(ctx, l)
	if err != nil {
		return nil, err
	}
	return backups.List(ctx, store, backups.Query{Pattern: pattern, Checksums: true})
}

// readWhole checks a backup as a full rollback's verification does and says what it found.
func readWhole(cmd *cobra.Command, s config.Stack, b BackupView, by string, progress io.Writer) backups.Verdict {
	layout := "auto"
	if i := slices.IndexFunc(s.Volumes, func(v config.Volume) bool { return v.Name == b.Volume }); i >= 0 {
		layout = s.Volumes[i].Layout
	}
	fmt.Fprintf(progress, "reading %s (%s)...\n", b.Name, size(b.Size))
	began := time.Now()
	store, err := backups.Open(cmd.Context(), s.Backups.Location())
	var got backups.Verified
	if err == nil {
		got, err = backups.Verify(cmd.Context(), store, backups.Check{Name: b.Name, RequireChecksum: s.Backups.RequireChecksum, Layout: archive.LayoutName(layout)})
	}
	v := backups.Verdict{Name: b.Name, SHA256: got.SHA256, At: time.Now().UTC(), OK: err == nil, By: by}
	if err != nil {
		v.Detail = err.Error()
		if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
			v.Detail = appErr.Message()
		}
		return v
	}
	v.Bytes, v.Seconds = got.Size, time.Since(began).Seconds()
	v.Detail = fmt.Sprintf("read whole: %d entries, %s unpacked, sha256 %s", got.Entries, size(got.Bytes), map[string]string{"match": "matches its sidecar", "missing": "recorded (no sidecar)"}[got.Sidecar])
	return v
}

func printBackups(w io.Writer, views []BackupView, now time.Time) {
	if len(views) == 0 {
		fmt.Fprintln(w, "no backups found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tBACKUP\tAGE\tSIZE\tSHA256 SIDECAR\tLAST READ WHOLE")
	for _, b := range views {
		sidecar := "none"
		if b.Checksum != "" {
			sidecar = b.Checksum[:12] + "…"
		}
		last := "never"
		if b.Last != nil {
			verdict := "FAILED"
			if b.Last.OK {
				verdict = "ok"
			}
			last = fmt.Sprintf("%s %s ago by %s: %s", verdict, human(now.Sub(b.Last.At)), b.Last.By, b.Last.Detail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Volume, b.Name, human(now.Sub(b.Modified)), size(b.Size), sidecar, last)
	}
	_ = tw.Flush()
}

// newestVerdictRate is the throughput of this host's latest staging restore, 0 if none.
func newestVerdictRate(views []BackupView) float64 {
	var best *backups.Verdict
	for _, b := range views {
		if b.Last != nil && b.Last.Restored && b.Last.Rate() > 0 && (best == nil || b.Last.At.After(best.At)) {
			best = b.Last
		}
	}
	if best == nil {
		return 0
	}
	return best.Rate()
}
