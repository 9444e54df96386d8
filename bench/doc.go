// Package bench compares naq's circuit breaker with other Go breakers in one
// benchmark run. It is a separate module so that the libraries it compares
// against never enter naq's own go.mod.
//
// Run it from this directory: go test -run '^$' -bench . -benchmem
package bench
