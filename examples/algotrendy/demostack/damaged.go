package demostack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/algotrendy/rewind/backups"
)

// sqliteHeader is the part of an SQLite file that names it one: what a damage past it
// leaves for a quick look to see.
const sqliteHeader = 100

// Damage writes a copy of the backup at from to the backup to, with the market database
// file's pages past its header replaced by random bytes of the same length: a whole
// archive with a right sha256 sidecar, every entry where it was, whose database does not
// open. Only starting the database shows it. The fingerprint, if any, is not copied.
func Damage(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	gz, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(gz)
	damaged := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", from, err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("read %s: %w", from, err)
		}
		if strings.HasSuffix(h.Name, "/db/market.sqlite") && len(content) > sqliteHeader {
			if _, err := rand.Read(content[sqliteHeader:]); err != nil {
				return err
			}
			damaged = true
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(content); err != nil {
			return err
		}
	}
	if !damaged {
		return fmt.Errorf("%s holds no market database to damage", from)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(to, body.Bytes(), 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(body.Bytes())
	return os.WriteFile(backups.SidecarName(to), []byte(hex.EncodeToString(sum[:])+"  "+filepath.Base(to)+"\n"), 0o644)
}
