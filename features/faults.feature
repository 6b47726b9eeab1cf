Feature: Faults and restarts during a run
  Servers fail and are restarted while the load goes on: the run's timeline
  applies each fault at its time, in wall-clock and in virtual time alike,
  every request is accounted for (sent = succeeded + failed + cancelled),
  and the summary shows the figures before, during and after each event.

  Background:
    Given the prompts are 240 random prompts with 128 input and 32 output tokens

  Scenario: a server dies and comes back while the load goes on
    Given 3 simulated SGLang servers with max running requests 64
    And requests are routed by sgltest's dispatcher with policy "round_robin"
    When server 2 is killed after 3 s and restored after 6 s
    And the prompts arrive at 20 requests per second
    Then at most 10% of requests fail
    And requests stop failing within 1 s after server 2 is killed
    And the P99 TTFT is below 500 ms again within 2 s after server 2 is restored
    And server 2 served at least 20 requests

  Scenario: the same failure schedule in virtual time
    Given the simulation runs in virtual time
    And 3 simulated SGLang servers with max running requests 64
    And requests are routed by sgltest's dispatcher with policy "round_robin"
    And the prompts are 2400 random prompts with 128 input and 32 output tokens
    When server 2 is killed after 30 s and restored after 60 s
    And the prompts arrive at 20 requests per second
    Then at most 5% of requests fail
    And requests stop failing within 1 s after server 2 is killed
    And the P99 TTFT is below 500 ms again within 2 s after server 2 is restored

  Scenario Outline: what <who> does when a worker dies
    Given 2 simulated SGLang servers with max running requests 32
    And requests are routed by <who> with policy "round_robin"
    When server 2 is killed after 3 s
    And the prompts arrive at 20 requests per second
    Then at most 5% of requests fail
    And requests stop failing within 2 s after server 2 is killed

    Examples:
      | who                  |
      | sgltest's dispatcher |

    @router
    Examples: the real routers
      | who               |
      | the SGLang router |
      | smg               |

  Scenario: a parameter change during a run is a restart with new arguments
    Given a simulated SGLang server with max running requests 64
    And the prompts are 200 random prompts with 128 input and 64 output tokens
    When server 1 restarts with max running requests 8 after 4 s
    And the prompts arrive at 20 requests per second
    Then at most 10% of requests fail
    And the max running requests is at most 64

  Scenario: a paused server delays its requests and fails none
    Given 2 simulated SGLang servers with max running requests 64
    And requests are routed by sgltest's dispatcher with policy "round_robin"
    And the prompts are 120 random prompts with 128 input and 16 output tokens
    When server 1 is paused after 2 s for 2 s
    And the prompts arrive at 20 requests per second
    Then all requests succeed
    And the max TTFT on server 1 is above 1 s

  @router
  Scenario: the router dies and comes back
    Given 2 simulated SGLang servers with max running requests 32
    And requests are routed by the SGLang router with policy "round_robin"
    When the router is killed after 3 s and restored after 5 s
    And the prompts arrive at 20 requests per second
    Then the error rate is below 1% again within 1 s after the router is restored
    And at most 40% of requests fail
