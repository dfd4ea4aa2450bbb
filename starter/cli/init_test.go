package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runInit runs the CLI as an operator would, from dir, with no rewind.yaml of its own.
func runInit(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestInitThenConfigCheckThenPlanNameTheVolumes walks the adoption path on the demo's
// compose file and on three shapes operators write: `rewind init --out`, `rewind config
// check`, and `rewind plan full`, which reads each volume's backups whole and names the one
// it would restore.
func TestInitThenConfigCheckThenPlanNameTheVolumes(t *testing.T) {
	demo, err := os.ReadFile("../../examples/algotrendy/docker-compose.prod.yml")
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		files map[string]string
		// backups are written as real archives of the runbook's layout, with sidecars.
		backups []string
		args    []string
		stack   string
		want    []string // the plan's lines for each volume
	}{
		{
			name:    "the demo's compose file",
			files:   map[string]string{"algotrendy/docker-compose.prod.yml": string(demo)},
			backups: []string{"algotrendy/backups/questdb_backup_20261125_020000.tar.gz"},
			args:    []string{"--compose", "algotrendy/docker-compose.prod.yml", "--project", "algotrendy_v26", "--stack", "prod"},
			stack:   "prod",
			want:    []string{"algotrendy_v26_questdb_data: would restore questdb_backup_20261125_020000.tar.gz"},
		},
		{
			name: "a bind-backed named volume",
			files: map[string]string{"shop/compose.yml": `services:
  db:
    image: postgres:15
    volumes: ["pgdata:/var/lib/postgresql/data"]
volumes:
  pgdata:
    driver_opts: {type: none, o: bind, device: /srv/pgdata}
`},
			backups: []string{"shop/backups/db_backup_20261125_020000.tar.gz"},
			args:    []string{"-f", "shop/compose.yml"},
			stack:   "shop",
			want:    []string{"shop_pgdata: would restore db_backup_20261125_020000.tar.gz"},
		},
		{
			name: "an external volume",
			files: map[string]string{"market/docker-compose.yml": `services:
  questdb:
    image: questdb/questdb:7.3
    volumes: ["data:/var/lib/questdb"]
volumes:
  data:
    external: true
    name: legacy_questdb_data
`},
			backups: []string{"market/questdb-backups/questdb_backup_20261125_020000.tar.gz"},
			args:    []string{"-f", "market/docker-compose.yml", "--stack", "market"},
			stack:   "market",
			want:    []string{"legacy_questdb_data: would restore questdb_backup_20261125_020000.tar.gz"},
		},
		{
			name: "two compose files, the second overriding the first",
			files: map[string]string{
				"app/docker-compose.yml": `services:
  api:
    image: app-api:2.0
    ports: ["5002:5002"]
  db:
    image: postgres:16
    volumes: ["db_data:/var/lib/postgresql/data"]
volumes:
  db_data:
`,
				"app/docker-compose.prod.yml": `services:
  api:
    volumes: ["uploads:/srv/uploads"]
volumes:
  uploads:
`,
			},
			backups: []string{"backups/db_backup_20261125_020000.tar.gz", "backups/uploads_backup_20261125_020000.tar.gz"},
			args:    []string{"-f", "app/docker-compose.yml", "-f", "app/docker-compose.prod.yml", "-p", "app"},
			stack:   "app",
			want: []string{
				"app_db_data: would restore db_backup_20261125_020000.tar.gz",
				"app_uploads: would restore uploads_backup_20261125_020000.tar.gz",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			for _, b := range tc.backups {
				writeBackup(t, filepath.Join(dir, b))
			}
			code, out, errOut := runInit(t, dir, append([]string{"init", "--host", "docker-host-1", "--out", "rewind.yaml"}, tc.args...)...)
			require.Equal(t, ExitOK, code, errOut)
			require.Contains(t, out, "wrote rewind.yaml: stack "+tc.stack+" ")

			code, out, errOut = runInit(t, dir, "config", "check", "--config", "rewind.yaml")
			require.Equal(t, ExitOK, code, errOut)
			require.True(t, strings.HasPrefix(out, "ok: temporal 127.0.0.1:7233 (namespace default, task queue rewind)\nstacks: "+tc.stack+"\napprovers: 4\n"), out)

			code, out, errOut = runInit(t, dir, "plan", "full", "--stack", tc.stack, "--severity", "P1", "--config", "rewind.yaml")
			require.Equal(t, ExitOK, code, errOut)
			require.Equal(t, tc.want, planBackupLines(out), out)
		})
	}
}

// TestInitNeverReplacesAFileWithoutForce: an existing file is left as it was, exit 2;
// with --force it becomes a whole rewind.yaml.
func TestInitNeverReplacesAFileWithoutForce(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"compose.yml": "services:\n  api:\n    image: api:1\n",
		"rewind.yaml": "# the operator's own\n",
	})
	code, out, errOut := runInit(t, dir, "init", "-f", "compose.yml", "--host", "h", "--out", "rewind.yaml")
	require.Equal(t, ExitBadInput, code)
	require.Empty(t, out)
	require.Equal(t, "rewind: rewind.yaml exists and rewind init does not replace it: pass --force to write a new rewind.yaml over it, or leave out --out to print the stack section and paste it under stacks:\n", errOut)
	kept, err := os.ReadFile(filepath.Join(dir, "rewind.yaml"))
	require.NoError(t, err)
	require.Equal(t, "# the operator's own\n", string(kept))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary file left behind")

	code, out, errOut = runInit(t, dir, "init", "-f", "compose.yml", "--host", "h", "--out", "rewind.yaml", "--force")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "volumes: none;")
	replaced, err := os.ReadFile(filepath.Join(dir, "rewind.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(replaced), "# TODO: no service mounts a named volume")
	code, _, errOut = runInit(t, dir, "config", "check", "--config", "rewind.yaml")
	require.Equal(t, ExitOK, code, errOut)
}

// TestInitSaysWhatIsWrong: bad input exits 2 naming the file and what is wrong in it.
func TestInitSaysWhatIsWrong(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"broken.yml": "services:\n  api: [image: x\n",
		"ports.yml":  "services:\n  api:\n    image: x\n    ports: 5002\n",
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not YAML", []string{"-f", "broken.yml"}, "rewind: read compose project from broken.yml: yaml: while parsing a flow sequence at line 1, column 8: line 2: did not find expected ',' or ']'\n"},
		{"not the compose schema", []string{"-f", "ports.yml"}, "rewind: read compose project from ports.yml: validating $DIR/ports.yml: services.api.ports must be a array\n"},
		{"no compose file here", nil, "rewind: find the compose files: none named, COMPOSE_FILE unset, and no compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml in this folder: name them\n"},
		{"--force without --out", []string{"-f", "ports.yml", "--force"}, "rewind: --force replaces the file --out names; without --out nothing is written but the output\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COMPOSE_FILE", "restored after the test")
			require.NoError(t, os.Unsetenv("COMPOSE_FILE"))
			code, out, errOut := runInit(t, dir, append([]string{"init", "--host", "h"}, tc.args...)...)
			require.Equal(t, ExitBadInput, code)
			require.Empty(t, out)
			require.Equal(t, tc.want, strings.ReplaceAll(errOut, dir, "$DIR"))
		})
	}
}

// TestInitPrintsTheStackSection: without --out the section goes to stdout and compose's
// warnings to stderr, as Rewind's other warnings read.
func TestInitPrintsTheStackSection(t *testing.T) {
	dir := writeTree(t, map[string]string{"compose.yml": "version: \"3.8\"\nservices:\n  api:\n    image: api:${TAG}\n    ports: [\"5002:5002\"]\n"})
	code, out, errOut := runInit(t, dir, "init", "-f", "compose.yml", "--host", "h", "--project", "web")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "warning: The \"TAG\" variable is not set. Defaulting to a blank string.\n"+
		"warning: "+filepath.Join(dir, "compose.yml")+": the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion\n", errOut)
	require.Contains(t, out, "stacks:\n  web:\n    project: web ")
	require.Contains(t, out, "      health_url: http://127.0.0.1:5002/health\n")
}

func TestInitHelpSaysWhatItWritesAndWhatComesNext(t *testing.T) {
	code, out, _ := runInit(t, t.TempDir(), "init", "--help")
	require.Equal(t, ExitOK, code)
	for _, want := range []string{"<project>_<volume>", "never\nreplaced without --force", "rewind config check", "-f, --compose FILE", "--force"} {
		require.Contains(t, out, want)
	}
}

// planBackupLines are the lines of `rewind plan full` that say what each volume would
// restore, cut before the backup's size and age.
func planBackupLines(out string) []string {
	_, rest, _ := strings.Cut(out, "\nBackups:\n")
	rest, _, _ = strings.Cut(rest, "\n\n")
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		l, _, _ = strings.Cut(strings.TrimSpace(l), " (")
		lines = append(lines, l)
	}
	return lines
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	return dir
}

// writeBackup writes a backup as the runbook takes it (tar -C /var/lib/docker/volumes
// <volume>), with its sha256 sidecar.
func writeBackup(t *testing.T, path string) {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	data := []byte("rows\n")
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "volume/_data/", Typeflag: tar.TypeDir, Mode: 0o755}))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "volume/_data/table.d", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}))
	_, err := tw.Write(data)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	sum := sha256.Sum256(b.Bytes())
	require.NoError(t, os.WriteFile(path+".sha256", []byte(hex.EncodeToString(sum[:])+"  "+filepath.Base(path)+"\n"), 0o644))
}
