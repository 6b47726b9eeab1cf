@custom-policy
Feature: A routing policy written in Go
  A custom policy is a Go type registered by name (see router/doc.go). This
  one, first_two_only, is registered by the test suite (features_test.go), so
  this feature runs under go test and godog run; a binary that registers its
  own policies runs it the same way.

  Scenario: a custom policy chosen by name decides where requests go
    Given 3 simulated SGLang servers with max running requests 32
    And requests are routed by sgltest's dispatcher with policy "first_two_only"
    When 40 random prompts with 64 input and 8 output tokens arrive at 20 requests per second
    Then all requests succeed
    And server 1 served at least 20 requests
    And server 2 served at least 20 requests
    And server 3 served at most 0 requests
