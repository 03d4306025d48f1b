// Package query is cohortnet's query room: a DuckDB engine over the node's
// local de-identified datasets, the SQL sandbox researchers' queries run in,
// result streaming with provenance, adverse-event signal detection, and
// federated aggregates with disclosure control.
//
// The engine sees datasets only as [Dataset] descriptions (name, manifest
// CID, mode, Parquet files per table); it does not read manifests, the store
// or the ledger itself: the caller (the node, or the command line) builds the
// list from the cohort catalogue and passes the ledger checkpoint in.
//
// It is not a general SQL service: only single SELECT statements over the
// views it builds run, inside DuckDB's own file-access controls, and nothing
// here moves data between nodes (the network carries [AggregateRequest] and
// [AggregateAnswer] values, see [Answerer]).
//
// The statistics of adverse-event signals are in the pure-Go sub-package
// query/ae, and the disclosure-control algorithms in query/sdc, so their
// tests need no DuckDB.
package query
