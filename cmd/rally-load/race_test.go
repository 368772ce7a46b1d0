//go:build race

package main

// raceEnabled: the tests run with -race, so the server they build is built
// the same way, from the same cached packages.
const raceEnabled = true
