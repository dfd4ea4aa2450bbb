package initconf

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// Backups is the folder of the stack's backups, found by the runbook's naming: a folder
// named like *backup* beside the compose files (or one up) holding *.tar.gz.
type Backups struct {
	// Dir is the folder found, or <working dir>/backups when none was.
	Dir   string
	Found bool
	// Archives are the *.tar.gz directly in Dir, sorted; Sidecars counts those with a
	// .sha256 beside them.
	Archives []string
	Sidecars int
	// Searched are the folders looked in.
	Searched []string
	// Others are families of archives in Dir no volume's pattern matches, like
	// redis_backup_*.tar.gz.
	Others []string
}

func findBackups(s Stack) (Backups, error) {
	roots := append(append([]string{s.WorkingDir}, dirsOf(s.ComposeFiles)...), filepath.Dir(s.WorkingDir))
	var candidates []string
	b := Backups{Dir: filepath.Join(s.WorkingDir, "backups")}
	for _, root := range roots {
		if slices.Contains(b.Searched, root) {
			continue
		}
		b.Searched = append(b.Searched, root)
		if isBackupName(filepath.Base(root)) {
			candidates = append(candidates, root)
		}
		entries, err := os.ReadDir(root)
		if err != nil {
			continue // a folder we may not read holds nothing we can name
		}
		for _, e := range entries {
			if e.IsDir() && isBackupName(e.Name()) {
				candidates = append(candidates, filepath.Join(root, e.Name()))
			}
		}
	}
	for _, dir := range candidates {
		archives, sidecars, err := listArchives(dir)
		if err != nil {
			return Backups{}, err
		}
		if len(archives) > len(b.Archives) {
			b.Dir, b.Found, b.Archives, b.Sidecars = dir, true, archives, sidecars
		}
	}
	return b, nil
}

func dirsOf(files []string) []string {
	var out []string
	for _, f := range files {
		out = append(out, filepath.Dir(f))
	}
	return out
}

func isBackupName(name string) bool { return strings.Contains(strings.ToLower(name), "backup") }

func listArchives(dir string) ([]string, int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("list backups in %s: %w", dir, err)
	}
	var archives []string
	sidecars := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".tar.gz") {
			continue
		}
		archives = append(archives, e.Name())
		if _, err := os.Stat(filepath.Join(dir, e.Name()+".sha256")); err == nil {
			sidecars++
		}
	}
	return archives, sidecars, nil
}

// matchBackups gives each volume the pattern of its backups: <stem>_backup_*.tar.gz as
// the runbook names questdb_data's (questdb_backup_20261125_020000.tar.gz), the stem
// being the volume's key without _data or a service that mounts it. When one volume
// matches nothing and the folder holds one family of archives no other volume claims,
// that family is the volume's, marked as a guess.
func matchBackups(s *Stack) {
	count := func(pattern string) int {
		n := 0
		for _, a := range s.Backups.Archives {
			if ok, _ := path.Match(pattern, a); ok {
				n++
			}
		}
		return n
	}
	var unmatched []int
	for i := range s.Volumes {
		v := &s.Volumes[i]
		patterns := backupPatterns(*v)
		v.Pattern = patterns[0]
		for _, p := range patterns {
			if n := count(p); n > 0 {
				v.Pattern, v.Found = p, n
				break
			}
		}
		if v.Found == 0 {
			unmatched = append(unmatched, i)
		}
	}
	var others []string
	for _, a := range s.Backups.Archives {
		claimed := slices.ContainsFunc(s.Volumes, func(v Volume) bool {
			ok, _ := path.Match(v.Pattern, a)
			return ok && v.Found > 0
		})
		if f := family(a); !claimed && !slices.Contains(others, f) {
			others = append(others, f)
		}
	}
	if len(unmatched) == 1 && len(others) == 1 {
		v := &s.Volumes[unmatched[0]]
		v.Pattern, v.Found, v.Guessed = others[0], count(others[0]), true
		others = nil
	}
	s.Backups.Others = others
}

// backupPatterns are the names the runbook's naming gives a volume's backups, most
// likely first.
func backupPatterns(v Volume) []string {
	stems := []string{dataStem(v.Key)}
	stems = append(stems, v.MountedBy...)
	stems = append(stems, dataStem(v.Name))
	var out []string
	for _, stem := range stems {
		for _, p := range []string{stem + "_backup_*.tar.gz", stem + "-backup-*.tar.gz"} {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func dataStem(name string) string {
	for _, suffix := range []string{"_data", "-data"} {
		if stem, ok := strings.CutSuffix(name, suffix); ok && stem != "" {
			return stem
		}
	}
	return name
}

// family is an archive's name up to its first digit, then *.tar.gz: the pattern of the
// backups a job writes with a timestamp in their names.
func family(name string) string {
	i := strings.IndexFunc(name, unicode.IsDigit)
	if i <= 0 {
		return name
	}
	return name[:i] + "*.tar.gz"
}
