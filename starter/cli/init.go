package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/algotrendy/rewind/starter/initconf"
)

type initFlags struct {
	compose []string
	project string
	stack   string
	host    string
	out     string
	force   bool
}

// NewCmdInit builds `rewind init`: a stack's section of rewind.yaml, read from its compose
// project.
func NewCmdInit(o *Options) *cobra.Command {
	var f initFlags
	cmd := &cobra.Command{
		Use:   "init --compose FILE... [--project P] [--stack NAME] [--out FILE] [--force]",
		Short: "Describe a Compose stack for rewind.yaml from the compose files it runs with",
		Long: `Read a compose project as ` + "`docker compose`" + ` resolves it (files in order, later ones
overriding earlier ones, .env and the environment, defaults) and write the stack's section
of rewind.yaml: project, compose files, working folder, services with their health checks
and published ports, named volumes as Docker names them (<project>_<volume> unless the file
names them or they are external) with their driver, a health URL suggested by a published
port, the backups folder found by the runbook's naming (a folder named like *backup* beside
the compose files, or one up, holding *.tar.gz) and this host. What it cannot know is
marked TODO with a line on how to find it.

Without --out the stack section is printed, to paste under stacks: in an existing
rewind.yaml. With --out a whole rewind.yaml is written around it (Temporal, worker,
evidence, approvers to name, the runbook's approval policy); an existing file is never
replaced without --force.

Run it on the stack's Docker host, where the compose files are; it reads files only and
changes nothing else. Then: rewind config check, rewind plan full --stack NAME --severity P1.`,
		Example: `  rewind init --compose docker-compose.prod.yml --project algotrendy_v26 --stack prod --out rewind.yaml
  rewind init --compose docker-compose.yml --compose docker-compose.prod.yml >> stacks.yaml
  rewind config check --config rewind.yaml && rewind plan full --stack prod --severity P1 --config rewind.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.init(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.compose, "compose", "f", nil, "a compose `FILE`, repeated in the order docker compose -f takes them (default: COMPOSE_FILE, then compose.yaml here)")
	fl.StringVarP(&f.project, "project", "p", "", "compose project name (default: as compose names it: name: in the file, COMPOSE_PROJECT_NAME, the folder)")
	fl.StringVar(&f.stack, "stack", "", "the stack's name in rewind.yaml (default: the project name)")
	fl.StringVar(&f.host, "host", "", "the Docker host the stack runs on (default: this machine's hostname)")
	fl.StringVarP(&f.out, "out", "o", "", "write a whole rewind.yaml to this file (default: print the stack section)")
	fl.BoolVar(&f.force, "force", false, "with --out: replace the file when it exists")
	return cmd
}

func (o *Options) init(cmd *cobra.Command, f initFlags) error {
	if f.force && f.out == "" {
		return badInputf("--force replaces the file --out names; without --out nothing is written but the output")
	}
	if f.out != "" && !f.force {
		switch _, err := os.Stat(f.out); {
		case err == nil:
			return badInputf("%s exists and rewind init does not replace it: pass --force to write a new rewind.yaml over it, or leave out --out to print the stack section and paste it under stacks:", f.out)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("check %s: %w", f.out, err)
		}
	}
	host := f.host
	if host == "" {
		name, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("read this machine's hostname (pass --host): %w", err)
		}
		host = name
	}
	defer sayComposeWarnings(o.Err)()
	stack, err := initconf.Read(cmd.Context(), initconf.Options{
		ComposeFiles: f.compose, Project: f.project, Stack: f.stack, Host: host, Env: os.Environ(),
	})
	if err != nil {
		return badInput{err}
	}
	if f.out == "" {
		return stack.WriteSection(o.Out)
	}
	var b bytes.Buffer
	if err := stack.WriteFile(&b); err != nil {
		return err
	}
	if err := writeFileWhole(f.out, b.Bytes(), f.force); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "wrote %s: stack %s (compose project %s), volumes: %s; %d TODO(s) to check\n",
		f.out, stack.Name, stack.Project, volumeList(stack), strings.Count(b.String(), "TODO"))
	fmt.Fprintf(o.Out, "next: rewind config check --config %[1]s && rewind plan full --stack %[2]s --severity P1 --config %[1]s\n", f.out, stack.Name)
	return nil
}

func volumeList(s initconf.Stack) string {
	if len(s.Volumes) == 0 {
		return "none"
	}
	names := make([]string, len(s.Volumes))
	for i, v := range s.Volumes {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}

// writeFileWhole writes data under a temporary name beside path and moves it into place,
// so an interrupted write never leaves half a rewind.yaml; without replace, a file made
// at path meanwhile is kept (a hard link never replaces).
func writeFileWhole(path string, data []byte, replace bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return badInputf("%s appeared while rewind init ran; nothing was written over it", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// sayComposeWarnings prints compose-go's warnings (a variable not set, an obsolete key),
// which it logs through logrus's standard logger, as Rewind's other warnings read, on w,
// until the returned func puts the logger back.
func sayComposeWarnings(w io.Writer) (restore func()) {
	std := logrus.StandardLogger()
	out, formatter := std.Out, std.Formatter
	std.SetOutput(w)
	std.SetFormatter(warningLine{})
	return func() {
		std.SetOutput(out)
		std.SetFormatter(formatter)
	}
}

type warningLine struct{}

func (warningLine) Format(e *logrus.Entry) ([]byte, error) {
	return []byte("warning: " + e.Message + "\n"), nil
}
