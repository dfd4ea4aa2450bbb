package backups

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
)

// trimArchive cuts a backup's archive extension: questdb_backup_X.tar.gz → questdb_backup_X.
func trimArchive(name string) string {
	for _, ext := range []string{".tar.gz", ".tgz"} {
		if strings.HasSuffix(name, ext) {
			return strings.TrimSuffix(name, ext)
		}
	}
	return name
}

// SidecarName is the checksum file the runbook writes beside a backup:
// questdb_backup_X.tar.gz → questdb_backup_X.sha256.
func SidecarName(name string) string { return trimArchive(name) + ".sha256" }

// sidecarNames are where a backup's checksum may be: the runbook's name, then the one
// `sha256sum X.tar.gz > X.tar.gz.sha256` writes.
func sidecarNames(name string) []string { return []string{SidecarName(name), name + ".sha256"} }

// FingerprintName is where a backup tool may record the data's fingerprint (the stack's
// fingerprint query, run when the backup was made) for the verification to compare.
func FingerprintName(name string) string { return trimArchive(name) + ".fingerprint" }

var (
	// sha256sum's "<hex>  <file>" or "<hex> *<file>", or a bare hash.
	coreutilsLine = regexp.MustCompile(`^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$`)
	// BSD and `shasum --tag`'s "SHA256 (<file>) = <hex>".
	bsdLine = regexp.MustCompile(`^SHA256 \((.+)\) = ([0-9a-fA-F]{64})$`)
)

// parseSidecar reads the hash of file from a checksum file of any common tool. A file
// of one checksum is the backup's whatever name it gives (backups get renamed when
// copied); in a file of several, the line naming file counts.
func parseSidecar(body, file string) (string, bool) {
	var sums, named []string
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if m := coreutilsLine.FindStringSubmatch(line); m != nil {
			sums = append(sums, strings.ToLower(m[1]))
			if m[2] != "" && path.Base(m[2]) == path.Base(file) {
				named = append(named, strings.ToLower(m[1]))
			}
		} else if m := bsdLine.FindStringSubmatch(line); m != nil {
			sums = append(sums, strings.ToLower(m[2]))
			if path.Base(m[1]) == path.Base(file) {
				named = append(named, strings.ToLower(m[2]))
			}
		}
	}
	switch {
	case len(named) > 0:
		return named[0], true
	case len(sums) == 1:
		return sums[0], true
	}
	return "", false
}

// readSidecar returns a backup's recorded sha256 and the sidecar it came from, or
// storage.ErrNotFound when it has none.
func readSidecar(ctx context.Context, s storage.Store, name string) (string, string, error) {
	for _, sc := range sidecarNames(name) {
		body, err := readSmall(ctx, s, sc)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		sum, ok := parseSidecar(body, name)
		if !ok {
			return "", "", temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("backup %s: %s holds no sha256 for it (want \"<sha256>  %s\", as sha256sum writes)", name, path.Base(sc), path.Base(name)), failure.ChecksumMismatch, nil)
		}
		return sum, path.Base(sc), nil
	}
	return "", "", fmt.Errorf("checksum of %s: %w", name, storage.ErrNotFound)
}

func readSmall(ctx context.Context, s storage.Store, name string) (string, error) {
	r, err := s.Open(ctx, name, 0)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return string(b), nil
}
