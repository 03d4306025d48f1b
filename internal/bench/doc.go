// Package bench holds the benchmarks that are measured against another engine
// in the same run: DuckDB reading, converting or aggregating the same files that
// cohortnet's own code handles. Keeping them here keeps DuckDB out of every
// other package's tests (see internal/deptest).
//
// Run them with `go test -run '^$' -bench . -benchtime 1x ./internal/bench`;
// each reports its own throughput and the baseline's as metrics, so the ratio
// can be read from one run. Inputs are generated with internal/synth in a
// temporary directory; their sizes are in each benchmark's doc comment.
package bench
