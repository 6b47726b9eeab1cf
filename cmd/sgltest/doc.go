// Command sgltest runs sgltest's scenarios with no Go toolchain needed, and
// serves the SGLang simulator. "sgltest help" lists its commands, settings
// and exit codes.
//
// Read main.go first (commands, settings and exit codes); baseline.go and
// compare.go are the commands that work across runs.
package main
