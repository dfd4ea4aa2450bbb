package notify

import "fmt"

// OptionDrill marks the notices of a restore drill, which is no rollback.
const OptionDrill = "drill"

// drillHeadline is the headline of a drill's notice: the stack and what the drill found.
func drillHeadline(ev Event, icon string) (string, bool) {
	if ev.Option != OptionDrill {
		return "", false
	}
	return fmt.Sprintf("%s Rewind: %s: %s", icon, ev.Stack, ev.Outcome), true
}
