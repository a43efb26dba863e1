//go:build race

package main

// raceEnabled: the tests run under -race, so the binary they build is
// built with it too and the race detector covers the end-to-end tests.
const raceEnabled = true
