// Command packaging builds Rewind's Debian package with nfpm from nfpm.yaml: `make deb`.
// It lives in a module of its own, so nfpm's dependencies stay out of Rewind's binaries.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "packaging:", err)
		os.Exit(1)
	}
}

func run() error {
	version := flag.String("version", "", "package version, starting with a digit (e.g. 0.1.0~git20261203.1a2b3c4)")
	bin := flag.String("bin", "../bin", "folder holding the static binaries rewind and rewind-worker")
	out := flag.String("out", "", "the .deb to write")
	flag.Parse()
	if *version == "" || *out == "" || (*version)[0] < '0' || (*version)[0] > '9' {
		return fmt.Errorf("--version (starting with a digit) and --out are needed, e.g. make deb")
	}
	binDir, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	for _, b := range []string{"rewind", "rewind-worker"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return fmt.Errorf("binary %s: %w (build it first: make deb does)", b, err)
		}
	}
	unit, err := packagedUnit()
	if err != nil {
		return err
	}
	defer os.Remove(unit)
	env := map[string]string{"REWIND_VERSION": *version, "REWIND_BIN": binDir, "REWIND_UNIT": unit}
	cfg, err := nfpm.ParseFileWithEnvMapping("nfpm.yaml", func(k string) string { return env[k] })
	if err != nil {
		return fmt.Errorf("read nfpm.yaml: %w", err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return err
	}
	// nfpm expands the environment in some fields only: the sources too.
	for _, c := range info.Contents {
		c.Source = os.Expand(c.Source, func(k string) string { return env[k] })
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return fmt.Errorf("check the package: %w", err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("build %s: %w", *out, err)
	}
	return f.Close()
}

// packagedUnit is the shipped systemd unit with the worker where the package puts it.
func packagedUnit() (string, error) {
	const shipped, packaged = "/usr/local/bin/rewind-worker", "/usr/bin/rewind-worker"
	b, err := os.ReadFile("../examples/production/rewind-worker.service")
	if err != nil {
		return "", fmt.Errorf("read the worker's systemd unit: %w", err)
	}
	if !strings.Contains(string(b), "ExecStart="+shipped) {
		return "", fmt.Errorf("the worker's systemd unit no longer starts %s: update packagedUnit", shipped)
	}
	f, err := os.CreateTemp("", "rewind-worker-*.service")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.WriteString(strings.ReplaceAll(string(b), shipped, packaged))
	return f.Name(), err
}
