package initconf

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/config"
)

// Shapes operators write, each a folder of files; every one must give a rewind.yaml that
// loads and whose stack names the volumes as Docker does.
var shapes = []struct {
	name  string
	files map[string]string
	opts  Options
	stack string
	// volumes are the stack's volumes as `docker volume ls` names them, with their patterns.
	volumes []config.Volume
}{
	{
		name: "bind-backed named volume",
		files: map[string]string{
			"shop/compose.yml": `services:
  db:
    image: postgres:15
    volumes: ["pgdata:/var/lib/postgresql/data"]
    ports: ["127.0.0.1:5432:5432"]
    stop_grace_period: 1m
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U shop"]
  web:
    build: ./web
    image: shop-web:${WEB_TAG:-1.4.2}
    ports: ["8080:8080"]
    volumes: ["./config:/etc/shop:ro"]
volumes:
  pgdata:
    driver: local
    driver_opts: {type: none, o: bind, device: /srv/pgdata}
`,
			"shop/backups/db_backup_20261124_020000.tar.gz":        "",
			"shop/backups/db_backup_20261124_020000.tar.gz.sha256": "",
			"shop/backups/db_backup_20261125_020000.tar.gz":        "",
			"shop/backups/db_backup_20261125_020000.tar.gz.sha256": "",
		},
		opts:    Options{ComposeFiles: []string{"shop/compose.yml"}},
		stack:   "shop",
		volumes: []config.Volume{{Name: "shop_pgdata", Pattern: "db_backup_*.tar.gz", Layout: "auto"}},
	},
	{
		name: "external volume",
		files: map[string]string{
			"market/docker-compose.yml": `services:
  questdb:
    image: questdb/questdb:7.3
    volumes: ["data:/var/lib/questdb"]
    ports: ["9000:9000"]
volumes:
  data:
    external: true
    name: legacy_questdb_data
`,
			"market_backups/questdb_backup_20261125_020000.tar.gz": "",
		},
		opts:    Options{ComposeFiles: []string{"market/docker-compose.yml"}, Stack: "market-prod"},
		stack:   "market-prod",
		volumes: []config.Volume{{Name: "legacy_questdb_data", Pattern: "questdb_backup_*.tar.gz", Layout: "auto"}},
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
    image: app-api:2.1
    volumes: ["uploads:/srv/uploads"]
    stop_grace_period: 45s
volumes:
  uploads:
    name: app_prod_uploads
`,
			"app/backups/db_backup_20261125_020000.tar.gz":      "",
			"app/backups/uploads_backup_20261125_020000.tar.gz": "",
		},
		opts:  Options{ComposeFiles: []string{"app/docker-compose.yml", "app/docker-compose.prod.yml"}, Project: "app"},
		stack: "app",
		volumes: []config.Volume{
			{Name: "app_db_data", Pattern: "db_backup_*.tar.gz", Layout: "auto"},
			{Name: "app_prod_uploads", Pattern: "uploads_backup_*.tar.gz", Layout: "auto"},
		},
	},
	{
		name: "no named volume",
		files: map[string]string{
			"web/compose.yaml": `services:
  web:
    image: nginx:1.27
    volumes: ["./html:/usr/share/nginx/html"]
`,
		},
		opts:  Options{ComposeFiles: []string{"web/compose.yaml"}},
		stack: "web",
	},
}

// TestInitWritesAConfigThatLoadsAndNamesTheVolumes writes each shape's whole rewind.yaml
// and loads it as the worker and `rewind config check` do: it loads, and the plan of a
// full rollback names the stack's volumes as Docker does.
func TestInitWritesAConfigThatLoadsAndNamesTheVolumes(t *testing.T) {
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			dir := writeFiles(t, shape.files)
			path := filepath.Join(dir, "rewind.yaml")
			require.NoError(t, os.WriteFile(path, []byte(readShape(t, dir, shape.opts, Stack.WriteFile)), 0o644))
			cfg, err := config.Load(path, nil)
			require.NoError(t, err)
			require.Equal(t, []string{shape.stack}, cfg.StackNames())
			plan, err := cfg.Plan(shape.stack, "P1", "", nil)
			require.NoError(t, err)
			if len(shape.volumes) == 0 {
				require.Empty(t, plan.Target.Volumes)
			} else {
				require.Equal(t, shape.volumes, plan.Target.Volumes)
			}
			require.Equal(t, "rewind@docker-host-1", plan.HostQueue)
		})
	}
}

// TestTheStackSectionPastesIntoAFile puts the printed section under an existing file's
// approvers and policy: it loads as the same stack.
func TestTheStackSectionPastesIntoAFile(t *testing.T) {
	shape := shapes[2]
	dir := writeFiles(t, shape.files)
	section := readShape(t, dir, shape.opts, Stack.WriteSection)
	path := filepath.Join(dir, "rewind.yaml")
	require.NoError(t, os.WriteFile(path, []byte("approvers:\n  - {name: alice, role: on-call}\n"+section), 0o644))
	cfg, err := config.Load(path, nil)
	require.NoError(t, err)
	s, err := cfg.Stack(shape.stack)
	require.NoError(t, err)
	require.Equal(t, shape.volumes, s.Volumes)
}

// TestInitOnTheDemoStack reads the demo's compose file as the runbook's project.
func TestInitOnTheDemoStack(t *testing.T) {
	s, err := Read(context.Background(), Options{
		ComposeFiles: []string{"../../examples/algotrendy/docker-compose.prod.yml"},
		Project:      "algotrendy_v26", Stack: "prod", Host: "docker-host-1",
	})
	require.NoError(t, err)
	var section bytes.Buffer
	require.NoError(t, s.WriteSection(&section))
	repo, err := filepath.Abs("../..")
	require.NoError(t, err)
	golden(t, "testdata/demo.section.golden", strings.ReplaceAll(section.String(), repo, "$REPO"))

	var file bytes.Buffer
	require.NoError(t, s.WriteFile(&file))
	path := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(path, file.Bytes(), 0o644))
	cfg, err := config.Load(path, nil)
	require.NoError(t, err)
	plan, err := cfg.Plan("prod", "P2", "", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"algotrendy_v26_questdb_data"}, plan.Target.VolumeNames())
	require.Equal(t, []string{"api", "questdb"}, plan.Target.Services)
	require.Equal(t, "http://127.0.0.1:5002/health", plan.Target.Checks.HealthURL)
}

// TestInitWholeFileGolden pins the whole rewind.yaml of the bind-backed shape.
func TestInitWholeFileGolden(t *testing.T) {
	dir := writeFiles(t, shapes[0].files)
	golden(t, "testdata/bind.rewind.yaml.golden", strings.ReplaceAll(readShape(t, dir, shapes[0].opts, Stack.WriteFile), dir, "$DIR"))
}

// TestInitSaysWhatIsWrongWithAComposeFile names the file and what is wrong in it.
func TestInitSaysWhatIsWrongWithAComposeFile(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
		opts             Options
	}{
		{"not YAML", "services:\n  api: [image: x\n", "read compose project from $DIR/compose.yml: ", Options{}},
		{"not the compose schema", "services:\n  api:\n    image: x\n    ports: 5002\n", "services.api.ports must be a array", Options{}},
		{"an undefined volume", "services:\n  api:\n    image: x\n    volumes: [data:/x]\n", `service "api" refers to undefined volume data`, Options{}},
		{"missing", "", "read compose project from $DIR/nosuch.yml: compose file \"$DIR/nosuch.yml\" is invalid: open $DIR/nosuch.yml: no such file or directory", Options{ComposeFiles: []string{"nosuch.yml"}}},
		{"a stack name Rewind cannot use", "services:\n  api:\n    image: x\n", `name the stack "group-a": want lowercase letters`, Options{Stack: "group-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"compose.yml": tc.file})
			opts := tc.opts
			if opts.ComposeFiles == nil {
				opts.ComposeFiles = []string{"compose.yml"}
			}
			for i, f := range opts.ComposeFiles {
				opts.ComposeFiles[i] = filepath.Join(dir, f)
			}
			_, err := Read(context.Background(), opts)
			require.Error(t, err)
			require.Contains(t, strings.ReplaceAll(err.Error(), dir, "$DIR"), tc.want)
		})
	}
}

func readShape(t *testing.T, dir string, opts Options, write func(Stack, io.Writer) error) string {
	t.Helper()
	opts.Host = "docker-host-1"
	var files []string
	for _, f := range opts.ComposeFiles {
		files = append(files, filepath.Join(dir, f))
	}
	opts.ComposeFiles = files
	s, err := Read(context.Background(), opts)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, write(s, &b))
	return b.String()
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	return dir
}

// golden compares got with the file at path; REWIND_UPDATE_GOLDEN=1 rewrites the file.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if os.Getenv("REWIND_UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "REWIND_UPDATE_GOLDEN=1 go test ./starter/initconf writes it")
	require.Equal(t, string(want), got)
}

// TestBackupsAreFoundByTheRunbooksNaming: a volume's backups are <stem>_backup_*.tar.gz by
// its key or a service that mounts it; the folder's one unclaimed family is a marked
// guess; more than one leaves a TODO naming them.
func TestBackupsAreFoundByTheRunbooksNaming(t *testing.T) {
	compose := "services:\n  db:\n    image: postgres:16\n    volumes: [\"pgdata:/var/lib/postgresql/data\"]\nvolumes:\n  pgdata:\n"
	for _, tc := range []struct {
		name    string
		backups []string
		want    Volume
		others  []string
	}{
		{"by the service that mounts it", []string{"db_backup_20261125_020000.tar.gz", "db_backup_20261126_020000.tar.gz"},
			Volume{Pattern: "db_backup_*.tar.gz", Found: 2}, nil},
		{"the folder's only family, a guess", []string{"postgres-20261125.tar.gz"},
			Volume{Pattern: "postgres-*.tar.gz", Found: 1, Guessed: true}, nil},
		{"two families, neither its own", []string{"postgres-20261125.tar.gz", "redis_backup_20261125.tar.gz"},
			Volume{Pattern: "pgdata_backup_*.tar.gz"}, []string{"postgres-*.tar.gz", "redis_backup_*.tar.gz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"pg/compose.yml": compose}
			for _, b := range tc.backups {
				files["pg/db-backups/"+b] = ""
			}
			dir := writeFiles(t, files)
			s, err := Read(context.Background(), Options{ComposeFiles: []string{filepath.Join(dir, "pg/compose.yml")}})
			require.NoError(t, err)
			require.Equal(t, filepath.Join(dir, "pg/db-backups"), s.Backups.Dir)
			require.Len(t, s.Volumes, 1)
			got := s.Volumes[0]
			require.Equal(t, tc.want, Volume{Pattern: got.Pattern, Found: got.Found, Guessed: got.Guessed})
			require.Equal(t, tc.others, s.Backups.Others)
			var b bytes.Buffer
			require.NoError(t, s.WriteSection(&b))
			if tc.others != nil {
				require.Contains(t, b.String(), "# TODO: no backup in "+s.Backups.Dir+" matches pgdata_backup_*.tar.gz")
			}
			if tc.want.Guessed {
				require.Contains(t, b.String(), "# TODO: confirm its backups: none is named like pgdata_backup_*.tar.gz; postgres-*.tar.gz (1 backup) is the folder's only other family")
			}
		})
	}
}
