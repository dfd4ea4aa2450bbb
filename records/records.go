// Package records keeps small JSON records on the Docker host, one file per key in a
// folder, each written whole or not at all, so a crash never leaves half a record and two
// writers of different keys never touch each other's file.
package records

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Write stores v as <dir>/<key>.json, replacing what the key held.
func Write(dir, key string, v any) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".record-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path(dir, key))
}

// Remove deletes the key's record; none is no error.
func Remove(dir, key string) error {
	if err := os.Remove(path(dir, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Read returns the key's record; found is false when there is none.
func Read[T any](dir, key string) (v T, found bool, err error) {
	body, err := os.ReadFile(path(dir, key))
	if errors.Is(err, fs.ErrNotExist) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, false, fmt.Errorf("%s: %w; delete the file", path(dir, key), err)
	}
	return v, true, nil
}

// All reads every record in dir; a missing dir holds none.
func All[T any](dir string) ([]T, error) {
	files, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []T
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".json") || strings.HasPrefix(f.Name(), ".") {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("%s: %w; delete the file", filepath.Join(dir, f.Name()), err)
		}
		out = append(out, v)
	}
	return out, nil
}

func path(dir, key string) string { return filepath.Join(dir, url.PathEscape(key)+".json") }
