Feature: Node-level performance on one GPU
  One SGLang server on one GPU, measured under a known load. Without a GPU
  the server is sgltest's simulator, calibrated to a real model and GPU.

  Scenario: a moderate Poisson load on one simulated GPU
    Given a simulated SGLang server with max running requests 64
    When 200 random prompts with 256 input and 64 output tokens arrive at 20 requests per second
    Then all requests succeed
    And the P99 total latency is below 10 s
    And the request throughput is at least 15 req/s
