package router

// The real routers, as Equivalent names them.
const (
	SGLangRouter = "sglang-router" // sglang-router 0.3.2
	SMG          = "smg"           // smg 1.13.0
)

// equivalents maps a real router's --policy name to the policy here that
// makes the same choices. internal/dispatch checks each against the router
// on crafted sequences, except the random ones: both routers' random, and
// 0.3.2's power_of_two (whose random pair also compares loads polled only
// every 30 s).
var equivalents = map[string]map[string]string{
	SGLangRouter: {
		"cache_aware": "cache_aware", "round_robin": "round_robin", "random": "random",
		"power_of_two": "power_of_two", "manual": "manual",
	},
	SMG: {
		"cache_aware": "smg_cache_aware", "round_robin": "round_robin", "random": "random",
		"power_of_two": "smg_power_of_two", "least_load": "least_load", "manual": "manual",
		"consistent_hashing": "consistent_hashing", "prefix_hash": "prefix_hash", "passthrough": "passthrough",
	},
}

// Equivalent returns the name of the policy here that behaves as the real
// router's (SGLangRouter or SMG) policy of that name, and false when there
// is none (smg's bucket, which only places prefill requests in PD mode, or
// a name the router does not have).
func Equivalent(realRouter, policy string) (string, bool) {
	name, ok := equivalents[realRouter][policy]
	return name, ok
}
