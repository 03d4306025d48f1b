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
// Adverse-event signals fill each drug–event pair's 2×2 table by one of
// three methods ([SignalConfig.Source], see [Engine.Counts]):
//   - reports: persons with a recorded adverse event (adverse_event rows:
//     FHIR AdverseEvent, FAERS).
//   - exposures: the cohort method of DESIGN.md. Exposed persons are
//     indexed at their first exposure to the drug, every other person at an
//     index day sampled from the exposed ones' (seeded, reproducible); a and
//     b are the exposed with and without the event starting 1 to W days
//     after the index, c and d the unexposed likewise; N is the persons.
//   - self-controlled: each exposed person's risk window (days 1 to W after
//     the first exposure) against their own control windows (days −2W+1 to
//     −W and W+1 to 2W); persons count only when their records begin by day
//     −2W+1; a and b are risk windows with and without the event, c and d
//     control windows; N is three windows per exposed person.
//
// On expert-mode datasets (dates shifted per person) exposures overstates
// disproportionality, because sampled calendar index days do not line up
// with shifted timelines: use self-controlled there. The same holds for
// safe-harbor datasets with intervals, whose days count from each person's
// first record. Counts by exposures over such datasets carry a warning
// ([WarnExposuresShifted]). Self-controlled compares days within one
// person's record only, so it gives the same answer on limited, expert and
// safe-harbor-with-intervals datasets. Federated answers ([AEAnswer]) name their method under their
// signature, and answers of different methods are not pooled.
//
// The statistics of adverse-event signals are in the pure-Go sub-package
// query/ae, and the disclosure-control algorithms in query/sdc, so their
// tests need no DuckDB.
package query
