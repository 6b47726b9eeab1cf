// Package setup reads named setups: reusable server and router
// configurations (the seeds' configuration templates) in a small YAML
// format that QA can read and review, referenced from a scenario by name
// (`Given the setup "h100-tp1-cache-aware"`).
//
// Read setup.go: the Setup type (what a file holds), Load (by name from
// the setups shipped in fixtures/setups, or by a path ending in .yaml),
// and Parse, which checks every field and names the file, the line and the
// field of anything wrong. The format, with every field:
//
//	description: Four Llama-3.1-8B servers on H100s behind cache-aware routing.
//	servers:
//	  count: 4                       # required: how many servers (one GPU each at tp_size 1)
//	  simulated: false               # optional: true always runs sgltest's simulator; false (the
//	                                 #   default) runs the suite's backend (SGLTEST_BACKEND)
//	  profile: llama-3.1-8b-h100     # optional: the simulator profile (a name or a .json path);
//	                                 #   without it the scenario's or the suite's profile applies
//	  settings:                      # optional: SGLang server arguments, by their flag names
//	    max_running_requests: 256    #   --max-running-requests, a positive whole number
//	    tp_size: 1                   #   --tp-size, a positive whole number
//	    chunked_prefill_size: 8192   #   --chunked-prefill-size, positive, or -1 to disable chunking
//	    schedule_policy: lpm         #   --schedule-policy, one SGLang accepts
//	    mem_fraction_static: 0.85    #   --mem-fraction-static, a fraction in (0, 1)
//	routing:                         # required when count is above 1
//	  via: dispatcher                # dispatcher (sgltest's), sglang-router or smg
//	  policy: cache_aware            # a policy that router knows
//
// A setting left out is not passed, so the server keeps its own default.
// Unknown fields are errors (a misspelt setting must not silently fall
// back to the server's default), and so are settings SGLang has but
// sgltest does not pass yet (the seeds' enable_torch_compile,
// schedule_conservativeness, and the router's cache_threshold and
// balance thresholds).
package setup
