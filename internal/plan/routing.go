package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sgltest/sgltest/router"
)

// Routing says how requests are spread over several servers.
type Routing struct {
	// Via is who routes: ViaDispatcher (sgltest's own, in the load
	// generator), ViaSGLangRouter (sglang-router) or ViaSMG (smg).
	Via string `json:"via"`
	// Policy is the policy's name as Via knows it.
	Policy string `json:"policy"`
}

// Who routes.
const (
	ViaDispatcher   = "dispatcher"
	ViaSGLangRouter = "sglang-router"
	ViaSMG          = "smg"
)

// RouterPolicies lists the policies each real router's --policy flag
// accepts (router-reference.md: sglang-router 0.3.2, smg 1.9.0).
var RouterPolicies = map[string][]string{
	ViaSGLangRouter: {"cache_aware", "manual", "power_of_two", "random", "round_robin"},
	ViaSMG:          {"cache_aware", "consistent_hashing", "least_load", "manual", "passthrough", "power_of_two", "prefix_hash", "random", "round_robin"},
}

// Validate checks that Via is known and that it knows Policy.
func (r *Routing) Validate() error {
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
	return nil
}
