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
// Adverse-event signals count either recorded reports (adverse_event rows,
// one unit per person) or exposures. Exposures are self-controlled (see
// [Engine.Counts]): each person's first exposure to a drug is their index
// day, and the event's occurrence in the risk window (days 1 to W after it)
// is compared with the same person's two control windows (days −2W+1 to −W
// and W+1 to 2W); persons count only when their records begin by day −2W+1.
// No index dates are drawn for unexposed persons: such dates would be
// calendar days, and expert-mode datasets shift every person's dates by a
// secret offset of their own, so only days within one person's record can
// be compared. Limited, expert and safe-harbor-with-intervals datasets thus
// give the same answer for the same records.
//
// The statistics of adverse-event signals are in the pure-Go sub-package
// query/ae, and the disclosure-control algorithms in query/sdc, so their
// tests need no DuckDB.
package query
