package admission

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
)

// TestEveryRegisteredStepSaysWhatItTouches: the worker registers every exported method of
// these structs; an input the gate has no case for is refused, so a step added without one
// could never run. Steps that run only as local activities (inside the worker's own
// workflow code, which the gate lets through) are listed: scheduled by anyone else they
// are refused, as they should be.
func TestEveryRegisteredStepSaysWhatItTouches(t *testing.T) {
	// The worker's own answers: its plan of a stack or group, keys at a time, a start's
	// nonce, the guard's signature.
	localOnly := map[string]bool{"Plan": true, "GroupPlan": true, "KeysNow": true, "ClaimNonce": true, "SignAsGuard": true}
	for _, activities := range []any{&docker.Activities{}, &volume.Activities{}, &evidence.Activities{}, &notify.Activities{},
		&backup.Activities{}, &probe.Activities{}, &gitrepo.Activities{}, &policy.Activities{}, &drill.Activities{}} {
		typ := reflect.TypeOf(activities)
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			for j := 1; j < m.Type.NumIn(); j++ {
				in := m.Type.In(j)
				if in == reflect.TypeFor[context.Context]() {
					continue
				}
				err := prodReach().check(reflect.New(in).Elem().Interface())
				if err != nil && strings.Contains(err.Error(), "does not know what it may touch") && !localOnly[m.Name] {
					t.Errorf("%s.%s takes %s, which the gate has no case for", typ.Elem(), m.Name, in)
				}
			}
		}
	}
}
