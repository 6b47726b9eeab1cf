Feature: Capacity planning
  How much load a deployment takes while it meets its latency targets, and how
  many GPUs a rate needs. Every load point is a fresh run with its own run
  directory; every sweep, ramp and search also writes one report in its own
  directory under reports/ (sweep.txt, ramp.txt, search.txt, servers.txt and
  their JSON, CSV and charts). The virtual-time scenarios simulate seconds of
  traffic per point in a fraction of a second each.

  Scenario: a rate sweep finds the knee of the latency-throughput curve
    Given the simulation runs in virtual time
    And a simulated SGLang server with max running requests 256
    And the prompts are 100 random prompts with 512 input and 128 output tokens
    And each load level lasts 10 s
    When the prompts arrive at 10, 20, 40, 60 and 80 requests per second
    Then at every point of the sweep all requests succeed
    And the knee of the sweep is at least 30 req/s
    And the knee of the sweep is at most 45 req/s

  Scenario: a concurrency sweep against a simulator process in real time
    Given a simulated SGLang server with max running requests 64
    And the prompts are 16 random prompts with 128 input and 16 output tokens
    When 1, 2 and 4 users send the prompts back to back
    Then at every point of the sweep all requests succeed
    And at every point of the sweep the P99 TTFT is below 1 s

  Scenario: a sweep over the server settings of a named setup
    Given the simulation runs in virtual time
    And the setup "h100-tp1-cache-aware"
    And the prompts are 100 random prompts with 512 input and 128 output tokens
    And each load level lasts 5 s
    When the prompts arrive at 100 requests per second with each of these server settings:
      | max running requests | chunked prefill size |
      | 16                   | 2048                 |
      | 64                   |                      |
      | 256                  | 8192                 |
    Then at every point of the sweep all requests succeed

  Scenario: a stress ramp raises the rate until more than 5% of requests fail
    Given the simulation runs in virtual time
    And a simulated SGLang server with max running requests 256
    And the prompts are 100 random prompts with 512 input and 128 output tokens
    And each load level lasts 10 s
    And each request times out after 5 s
    When the rate steps from 20 to 100 requests per second in steps of 20
    Then the last good step is at least 20 req/s
    And the last good step is below 100 req/s

  Scenario: a stress ramp also ends where the SLO breaks
    Given the simulation runs in virtual time
    And a simulated SGLang server with max running requests 256
    And the prompts are 100 random prompts with 512 input and 128 output tokens
    And each load level lasts 10 s
    And the SLO is P99 TTFT below 500 ms
    When the rate steps from 20 to 100 requests per second in steps of 20 until more than 1% of requests fail
    Then the last good step is at least 40 req/s
    And the last good step is below 60 req/s

  Scenario: the highest rate one H100 takes while meeting its SLO
    Given the simulation runs in virtual time
    And a simulated SGLang server with max running requests 256
    And the prompts are 100 random prompts with 512 input and 128 output tokens
    And each load level lasts 10 s
    And the highest rate is found to within 2 req/s
    Then the highest rate meeting P99 TTFT below 200 ms and P99 TPOT below 50 ms is at least 30 req/s

  Scenario: the GPUs a rate needs with shortest-queue routing
    Given the simulation runs in virtual time
    And the setup "h100-single"
    And the prompts are 100 random prompts with 512 input and 128 output tokens
    And each load level lasts 10 s
    And the SLO is P99 TTFT below 200 ms and P99 TPOT below 50 ms
    Then 120 req/s needs at most 3 GPUs with shortest_queue
