Feature: Prefill-decode disaggregation
  Large deployments run SGLang as separate prefill and decode servers behind
  the router in PD mode: the router sends each request to a prefill server and
  a decode server at once, the prefill server computes the prompt and sends its
  KV cache to the decode server, which generates the rest and answers. Without
  GPUs the servers are simulators, and the KV transfer takes the time of the
  profile's kv_transfer link (for Llama-3.1-8B on an H100: 128 KiB of KV per
  prompt token over 23.75 GB/s, plus 1 ms; docs/calibration.md says where
  these figures come from and that they are not calibrated). Every scenario
  needs the real router (make venv).

  @router
  Scenario: two prefill and two decode servers behind smg in PD mode
    Given 2 simulated SGLang prefill servers and 2 decode servers with max running requests 64
    And requests are routed by smg in PD mode with prefill policy "round_robin" and decode policy "round_robin"
    When 40 random prompts with 2048 input and 32 output tokens arrive at 8 requests per second
    Then all requests succeed
    And every server served at least 15 requests
    # 2048 tokens x 128 KiB = 256 MiB over 23.75 GB/s is 11.3 ms, plus 1 ms:
    # no transfer can be faster, and the decode server cannot answer before
    # its KV cache has arrived.
    And the mean kv transfer time is at least 12 ms
    And the min TTFT is at least 12 ms

  @router
  Scenario Outline: decoding undisturbed by prefills: <setup> on two GPUs
    Given <servers>
    And <routing>
    And the prompts are 60 random prompts with 4096 input and 64 output tokens
    When the prompts arrive at 6 requests per second
    Then all requests succeed
    And the P99 ITL is <comparison> 30 ms

    # A regular server interrupts its decode batch for every new prompt's
    # prefill (SGLang runs prefill first), so some inter-token gaps last a
    # whole 4096-token prefill; a decode server only ever decodes.
    Examples:
      | setup                    | servers                                                | routing                                                                                              | comparison |
      | one prefill, one decode  | a simulated SGLang prefill server and a decode server | requests are routed by smg in PD mode with prefill policy "round_robin" and decode policy "round_robin" | below      |
      | two regular servers      | 2 simulated SGLang servers                             | requests are routed by smg with policy "round_robin"                                                  | above      |

  @router
  Scenario: a prefill server dies under load: nothing waits for its KV cache, and the rest goes on
    Given 2 simulated SGLang prefill servers and a decode server
    And requests are routed by smg in PD mode with prefill policy "round_robin" and decode policy "round_robin"
    And a decode request waits at most 5 s for its KV cache
    When server 1 is killed after 3 s
    And 60 random prompts with 4096 input and 32 output tokens arrive at 8 requests per second
    Then at most 10% of requests fail
    And requests stop failing within 1 s after server 1 is killed
    # A decode request whose prefill server died fails when its handshake
    # connection breaks, not after the 5 s waiting timeout.
    And the max total latency is below 2 s

  @router
  Scenario: sglang-router 0.3.2 in PD mode, with a policy for each side
    # Both routers refuse power_of_two over fewer than two servers of a
    # side; sgltest says so before anything starts.
    Given a simulated SGLang prefill server and 2 decode servers
    And requests are routed by the SGLang router in PD mode with prefill policy "cache_aware" and decode policy "power_of_two"
    When 20 random prompts with 1024 input and 16 output tokens arrive at 5 requests per second
    Then all requests succeed
    And server 1 served at least 20 requests
