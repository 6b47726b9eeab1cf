Feature: Node-level performance on one GPU
  One SGLang server on one GPU, measured under a known load. Without a GPU
  the server is sgltest's simulator, calibrated to a real model and GPU.

  Scenario: a moderate Poisson load on one simulated GPU
    Given a simulated SGLang server with max running requests 64
    When 200 random prompts with 256 input and 64 output tokens arrive at 20 requests per second
    Then all requests succeed
    And the P99 total latency is below 10 s
    And the request throughput is at least 15 req/s

  Scenario: ShareGPT conversations over the OpenAI chat API with a concurrency cap
    Given a simulated SGLang server with max running requests 32
    And requests use the OpenAI chat API
    And 1 warmup request is sent first
    And the prompts are 5 ShareGPT conversations from "fixtures/sharegpt/sample.json"
    When the prompts arrive at 10 requests per second with at most 2 in flight
    Then all requests succeed
    And the P99 total latency is below 30 s

  Scenario: closed-loop users on the completions API without streaming
    Given a simulated SGLang server with max running requests 16
    And requests use the OpenAI completions API
    And requests are not streamed
    And the prompts are 40 random prompts with 128 input and 16 output tokens
    When 4 users send the prompts back to back
    Then all requests succeed
    And the request throughput is at least 5 req/s

  Scenario: bursty arrivals of shared-prefix prompts
    Given a simulated SGLang server with max running requests 32
    And the prompts are 4 groups of 10 prompts sharing a 512-token system prompt, with 32-token questions and 16 output tokens
    When the prompts arrive at 20 requests per second with burstiness 0.5
    Then all requests succeed
    And the median TTFT is below 1 s

  Scenario: a load program: ramp up, soak, then a burst
    Given a simulated SGLang server with max running requests 32
    And the prompts are 200 random prompts with 128 input and 16 output tokens
    When the prompts arrive in phases:
      | phase | duration | rate    |
      | ramp  | 2s       | 1 to 20 |
      | soak  | 2s       | 20      |
      | burst |          | 20      |
    Then all requests succeed
    And the P99 total latency is below 5 s

  Scenario: replaying a Mooncake-style trace twice as fast
    Given a simulated SGLang server with max running requests 32
    And the prompts are replayed from the trace "fixtures/traces/sample.jsonl"
    When the trace is replayed at 2 times its speed
    Then all requests succeed

  Scenario: static batches against continuous arrivals of the same prompts
    Given a simulated SGLang server with max running requests 64
    And the prompts are 64 random prompts with 256 input and 32 output tokens
    When the next run is labelled "continuous"
    And the prompts arrive all at once
    And the next run is labelled "static batches"
    And the prompts are sent in static batches of 8
    Then all requests succeed
    And the request throughput with "continuous" is higher than with "static batches"

  Scenario: multi-turn conversations, each turn after the previous one
    Given a simulated SGLang server with max running requests 64
    And the prompts are 8 conversations of 4 turns with 64-token questions, 128-token answers and 16 output tokens
    When the conversations are played turn by turn
    Then all requests succeed
    And the cache hit rate is at least 30%

  Scenario: a hundred ShareGPT-shaped conversations at ten requests per second
    Given a simulated SGLang server with max running requests 64
    And the prompts are 100 ShareGPT conversations from "fixtures/sharegpt/generated.json"
    When the prompts arrive at 10 requests per second
    Then all requests succeed
    And the P99 TTFT is below 1 s
