Feature: Performance gates against blessed baselines
  A gate compares a scenario's figures, over repeats of its load, with the
  baseline blessed for it (baselines/<scenario>.json, written only by
  `sgltest baseline save`), and says pass, regression or inconclusive with
  the noise the repeats show. In virtual time the simulator's figures are
  computed, not timed: these scenarios take seconds, give the same numbers
  on every machine, and fail when a change to sgltest or its simulator moves
  a figure beyond its tolerance. After such a change is meant, bless the new
  numbers: sgltest baseline save "<scenario>".

  Background:
    Given the simulation runs in virtual time
    And a simulated SGLang server with max running requests 64
    And the load is repeated 5 times, each with its own seed

  Scenario: latency under a moderate Poisson load holds against its baseline
    When 2000 random prompts with 128 to 1024 input and 16 to 128 output tokens arrive at 10 requests per second
    Then all requests succeed
    And the P99 TTFT is no worse than the baseline by more than 10%
    And the median ITL is no worse than the baseline by more than 10%
    And the P99 E2E latency is no worse than the baseline by more than 10%

  Scenario: throughput of a saturating burst holds against its baseline
    When 1000 random prompts with 128 to 1024 input and 16 to 128 output tokens arrive all at once
    Then all requests succeed
    And the output token throughput is no lower than the baseline by more than 5%

  Scenario: goodput in vLLM's sense at 30 requests per second
    Given the service-level objectives are TTFT below 200 ms and TPOT below 50 ms
    When 1000 random prompts with 128 to 1024 input and 16 to 128 output tokens arrive at 30 requests per second
    Then at least 95% of requests meet TTFT below 200 ms and TPOT below 50 ms
    And the goodput is at least 25 req/s
    And the goodput with E2E latency below 2 s is at least 25 req/s
