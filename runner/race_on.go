//go:build race

package runner

// raceBuild is true in binaries built with -race, whose load generator
// runs several times slower than in a normal build.
const raceBuild = true
