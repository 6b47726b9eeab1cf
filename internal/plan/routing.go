package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sgltest/sgltest/router"
)

// Routing says how requests are spread over several servers.
type Routing struct {
	// Via is who routes: ViaDispatcher (sgltest's own, in the load
	// generator), ViaSGLangRouter (sglang-router) or ViaSMG (smg).
	Via string `json:"via"`
	// Policy is the policy's name as Via knows it.
	Policy string `json:"policy"`
	// LoadInterval is how often sgltest's dispatcher refreshes the load
	// its policy sees (zero: the policy's own default, the real routers'
	// poll interval; see router.LoadInterval).
	LoadInterval time.Duration `json:"load_interval_ns,omitempty"`
	// ByConversation routes each request by its conversation (or
	// shared-prefix group) as the routing key, for key-based policies.
	ByConversation bool `json:"by_conversation,omitempty"`
	// Installed names the real router's installed release, e.g. "smg
	// 1.13.0"; empty for the dispatcher.
	Installed string `json:"installed,omitempty"`
	// PD runs the real router in PD mode in front of prefill and decode
	// servers (pd.go); Policy is then its --policy, the default of both.
	PD *PD `json:"pd,omitempty"`
}

// Who routes.
const (
	ViaDispatcher   = "dispatcher"
	ViaSGLangRouter = "sglang-router"
	ViaSMG          = "smg"
)

// RouterPolicies lists the policies each real router's --policy flag
// accepts in the releases make venv installs (sglang-router 0.3.2, smg
// 1.13.0); the runner also checks a name against the installed router's
// own --help before anything starts.
var RouterPolicies = map[string][]string{
	ViaSGLangRouter: {"cache_aware", "manual", "power_of_two", "random", "round_robin"},
	ViaSMG:          {"cache_aware", "consistent_hashing", "least_load", "manual", "passthrough", "power_of_two", "prefix_hash", "random", "round_robin"},
}

// Validate checks that Via is known and that it knows Policy.
func (r *Routing) Validate() error {
	if r.PD != nil {
		if err := r.validatePD(); err != nil {
			return err
		}
	}
	switch r.Via {
	case ViaDispatcher:
		if _, err := router.New(r.Policy, router.Options{}); err != nil {
			return fmt.Errorf("dispatcher policy %q: %w (known: %s)", r.Policy, err, strings.Join(router.Names(), ", "))
		}
	case ViaSGLangRouter, ViaSMG:
		if known := RouterPolicies[r.Via]; !slices.Contains(known, r.Policy) {
			return fmt.Errorf("%s policy %q: expected one of %s", r.Via, r.Policy, strings.Join(known, ", "))
		}
	default:
		return fmt.Errorf("unknown router %q: expected %s, %s or %s", r.Via, ViaDispatcher, ViaSGLangRouter, ViaSMG)
	}
	if r.Via != ViaDispatcher && (r.LoadInterval != 0 || r.ByConversation) {
		return fmt.Errorf("the load refresh interval and routing keys are settings of sgltest's dispatcher, not of %s", r.Via)
	}
	if r.LoadInterval < 0 {
		return fmt.Errorf("load refresh interval %v: expected a positive duration", r.LoadInterval)
	}
	return nil
}
