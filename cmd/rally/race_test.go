//go:build race

package main

// raceEnabled: the tests run with -race, so a Rally they build is built
// the same way, from the same cached packages.
const raceEnabled = true
