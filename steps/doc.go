// Package steps binds the Gherkin sentences of features/*.feature to runner
// calls, and does nothing else.
//
// Read steps.go: one table lists every sentence with its pattern, its
// meaning for QA and an example; InitializeScenario registers the table with
// godog, and Vocabulary renders the same table as VOCABULARY.md, so the
// document cannot drift from what is accepted. suite.go holds the godog
// entry points shared by go test, godog run and the sgltest binary.
package steps
