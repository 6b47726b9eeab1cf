// Package testenv gives tests what they need from outside their package:
// the virtual environments with the real SGLang router that `make venv`
// installs, and the sgltest binary (internal/simtest starts simulators
// from it).
//
// One file, testenv.go.
package testenv
