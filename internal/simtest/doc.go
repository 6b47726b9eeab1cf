// Package simtest starts simulators for tests in other packages: from the
// sgltest binary testenv builds (Simulators), or in the test's own process
// (InProcess). It is separate from testenv so that
// launcher's own tests can use testenv without an import cycle.
//
// Read simtest.go first, then inprocess.go.
package simtest
