package archive

import (
	"cmp"
	"encoding/json"
	"fmt"
)

// LayoutName is a layout as rewind.yaml writes it (auto, runbook, flat, strip:N), in
// activity inputs. Requests of earlier releases sent the layout as an object
// ({StripComponents: 1, Root: "_data"}), which reads as the runbook's layout.
type LayoutName string

// UnmarshalJSON accepts a name or the layout object of earlier releases.
func (l *LayoutName) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		*l = "runbook"
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("backup layout: %w", err)
	}
	*l = LayoutName(s)
	return nil
}

// Parse returns the layout; empty is auto.
func (l LayoutName) Parse() (Layout, error) { return ParseLayout(cmp.Or(string(l), "auto")) }
