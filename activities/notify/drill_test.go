package notify

import (
	"strings"
	"testing"
)

// A drill's page says what the drill found of which stack, not that a rollback failed.
func TestADrillsPageNamesTheDrillNotARollback(t *testing.T) {
	got := headline(Event{Kind: KindFailed, Option: OptionDrill, Stack: "prod", Outcome: "restore drill failed"})
	if !strings.HasSuffix(got, "Rewind: prod: restore drill failed") || strings.Contains(got, "rollback") {
		t.Fatalf("headline %q", got)
	}
}
