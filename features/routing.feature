Feature: Routing-level performance on several GPUs
  Several SGLang servers, one per GPU, behind a router: the real SGLang router
  (installed from PyPI) or sgltest's own dispatcher. Without GPUs the servers
  are simulators. Scenarios tagged @router need the real router's virtual
  environments (make venv); without them they are skipped, or fail when
  SGLTEST_REQUIRE_ROUTER=1 (as make test sets).

  Scenario: shortest queue over four GPUs at 40 requests per second
    Given 4 simulated SGLang servers with max running requests 64
    And requests are routed by sgltest's dispatcher with policy "shortest_queue"
    When 400 random prompts with 256 input and 64 output tokens arrive at 40 requests per second
    Then all requests succeed
    And the P99 total latency is below 2 s
    And every server served at least 50 requests

  Scenario: cache-aware routing beats round robin on shared-prefix traffic
    Given 4 simulated SGLang servers with max running requests 64
    And the prompts are 16 groups of 16 prompts sharing a 1024-token system prompt, with 64-token questions and 16 output tokens
    When the prompts arrive at 20 requests per second, routed by sgltest's dispatcher with policy "round_robin"
    And the prompts arrive at 20 requests per second, routed by sgltest's dispatcher with policy "cache_aware"
    Then the cache hit rate with "cache_aware" is higher than with "round_robin"

  @router
  Scenario Outline: the real SGLang router with policy <policy>
    Given 2 simulated SGLang servers with max running requests 32
    And requests are routed by the SGLang router with policy "<policy>"
    When 60 random prompts with 128 input and 16 output tokens arrive at 20 requests per second
    Then all requests succeed
    And every server served at least <min> requests

    Examples:
      | policy       | min |
      | round_robin  | 25  |
      | random       | 5   |
      | power_of_two | 1   |
      | cache_aware  | 1   |

  @router
  Scenario: what the real router adds to latency
    Given a simulated SGLang server with max running requests 32
    And the prompts are 60 random prompts with 128 input and 16 output tokens
    When the prompts arrive at 10 requests per second, sent directly and then through the SGLang router with policy "round_robin"
    Then all requests succeed
    And the router adds at most 20 ms to the median TTFT
    And the router adds at most 20 ms to the median server latency

  @router
  Scenario: smg, the router's successor, in front of two servers
    Given 2 simulated SGLang servers with max running requests 32
    And requests are routed by smg with policy "round_robin"
    When 40 random prompts with 128 input and 16 output tokens arrive at 20 requests per second
    Then all requests succeed
    And every server served at least 15 requests

  Scenario: capacity planning in virtual time: minutes of traffic on sixteen GPUs in seconds
    Given the simulation runs in virtual time
    And 16 simulated SGLang servers with max running requests 128
    And requests are routed by sgltest's dispatcher with policy "shortest_queue"
    And the prompts are 10000 random prompts with 256 input and 128 output tokens
    When the prompts arrive at 60 requests per second
    Then all requests succeed
    And the P99 TTFT is below 1 s
    And every server served at least 500 requests

  @router
  Scenario Outline: smg's policy <policy> in front of three servers
    Given 3 simulated SGLang servers with max running requests 32
    And requests are routed by smg with policy "<policy>"
    When 45 random prompts with 128 input and 16 output tokens arrive at 15 requests per second
    Then all requests succeed
    And the router errors are at most 0

    Examples:
      | policy             |
      | least_load         |
      | prefix_hash        |
      | consistent_hashing |
      | power_of_two       |

  Scenario: sgltest's dispatcher following smg's cache-aware policy on shared prefixes
    Given 4 simulated SGLang servers with max running requests 64
    And requests are routed by sgltest's dispatcher with smg's policy "cache_aware"
    And the dispatcher refreshes worker loads every 250 ms
    And the prompts are 16 groups of 16 prompts sharing a 1024-token system prompt, with 64-token questions and 16 output tokens
    When the prompts arrive at 20 requests per second
    Then all requests succeed
    And the cache hit rate is at least 50%

  Scenario: conversations kept on one server by their routing key
    Given 3 simulated SGLang servers with max running requests 64
    And requests are routed by sgltest's dispatcher with smg's policy "consistent_hashing"
    And each conversation is routed by its routing key
    And the prompts are 6 conversations of 4 turns with 64-token questions, 128-token answers and 16 output tokens
    When the conversations are played turn by turn
    Then all requests succeed
    And the cache hit rate is at least 40%
