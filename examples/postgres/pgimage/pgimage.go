// Package pgimage builds the PostgreSQL example stack's image on this machine from Debian's
// packages (debootstrap, then an import through the Engine API): nothing is pulled from an
// image registry. The image is built once per engine and found by its tag afterwards.
package pgimage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
)

// Image is the example stack's PostgreSQL image: Debian bookworm's PostgreSQL 15.
const Image = "rewind-postgres:15-bookworm"

// DataDir is where the image keeps its cluster: the stack's data volume is mounted there.
const DataDir = "/var/lib/postgresql/data"

// Suite is the Debian release the image is made of.
const Suite = "bookworm"

// entrypoint serves PostgreSQL on $PGDATA, making a cluster there first when the volume is
// new. Connections are trusted from anywhere: it is a test and demo database, published on
// 127.0.0.1 only.
const entrypoint = `#!/bin/sh
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	mkdir -p "$PGDATA"
	chown postgres:postgres "$PGDATA"
	chmod 700 "$PGDATA"
	setpriv --reuid=postgres --regid=postgres --init-groups initdb -D "$PGDATA" -A trust -U postgres --no-sync >/dev/null
	echo "host all all all trust" >>"$PGDATA/pg_hba.conf"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"
`

// Ensure builds the image unless the engine has it, and reports whether it built it. Two
// processes of this machine building at once take turns: the second finds the first's image.
func Ensure(ctx context.Context, engine *client.Client) (bool, error) {
	if has, err := present(ctx, engine); err != nil || has {
		return false, err
	}
	unlock, err := lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	if has, err := present(ctx, engine); err != nil || has {
		return false, err
	}
	return true, Build(ctx, engine, Mirror())
}

func present(ctx context.Context, engine *client.Client) (bool, error) {
	_, err := engine.ImageInspect(ctx, Image)
	if err == nil {
		return true, nil
	}
	if strings.Contains(strings.ToLower(err.Error()), "no such image") {
		return false, nil
	}
	return false, fmt.Errorf("look for image %s: %w", Image, err)
}

// lock takes this machine's build lock, a file in the temporary folder.
func lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "rewind-pgimage.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the image build lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("take the image build lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// Build makes the root filesystem with debootstrap from mirror and imports it as Image.
// It needs root (debootstrap does) and about 650 MB of temporary space.
func Build(ctx context.Context, engine *client.Client, mirror string) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("debootstrap is not installed: apt-get install debootstrap (.ci/run does)")
	}
	tmp, err := os.MkdirTemp("", "rewind-pgimage-")
	if err != nil {
		return fmt.Errorf("create the build folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include=postgresql", Suite, root, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("debootstrap %s from %s: %w\n%s", Suite, mirror, err, tail(out))
	}
	if err := finish(root); err != nil {
		return err
	}
	return importRoot(ctx, engine, root)
}

// finish drops what the image does not need (package caches, the cluster the package made)
// and adds the entrypoint.
func finish(root string) error {
	for _, p := range []string{"var/cache/apt/archives", "var/lib/apt/lists", "var/lib/postgresql/15/main", "etc/postgresql/15/main"} {
		if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
			return fmt.Errorf("trim the image: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usr/local/bin/rewind-postgres"), []byte(entrypoint), 0o755); err != nil {
		return fmt.Errorf("write the entrypoint: %w", err)
	}
	return nil
}

// importRoot streams the root filesystem, as GNU tar writes it (owners kept), into the
// engine's image import.
func importRoot(ctx context.Context, engine *client.Client, root string) error {
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "-C", root,
		"--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-c", ".")
	out, err := tarCmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	tarCmd.Stderr = &stderr
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("start tar of the image: %w", err)
	}
	path := "/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	res, err := engine.ImageImport(ctx, client.ImageImportSource{Source: out, SourceName: "-"}, Image, client.ImageImportOptions{
		Changes: []string{
			"ENV PATH=" + path,
			"ENV PGDATA=" + DataDir,
			"ENV LANG=C.UTF-8",
			`ENTRYPOINT ["/usr/local/bin/rewind-postgres"]`,
			"EXPOSE 5432",
		},
		Message: "Debian " + Suite + "'s PostgreSQL, made by debootstrap on this machine",
	})
	if err != nil {
		_ = tarCmd.Process.Kill()
		_ = tarCmd.Wait()
		return fmt.Errorf("import image %s: %w", Image, err)
	}
	_, copyErr := io.Copy(io.Discard, res)
	res.Close()
	if err := tarCmd.Wait(); err != nil {
		return fmt.Errorf("tar the image's root: %w: %s", err, stderr.String())
	}
	if copyErr != nil {
		return fmt.Errorf("import image %s: %w", Image, copyErr)
	}
	return nil
}

// Mirror is the Debian mirror apt uses on this machine (deb822 or one-line sources), or
// deb.debian.org.
func Mirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, "/etc/apt/sources.list")
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:" && !strings.Contains(fields[1], "security"):
				f.Close()
				return fields[1]
			case len(fields) >= 3 && fields[0] == "deb" && !strings.HasPrefix(fields[1], "[") && !strings.Contains(fields[1], "security"):
				f.Close()
				return fields[1]
			}
		}
		f.Close()
	}
	return "http://deb.debian.org/debian"
}

// ComposeFile is the example stack's compose file.
func ComposeFile() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("locate the PostgreSQL example's source")
	}
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "docker-compose.yml"), nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
