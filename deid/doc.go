// Package deid turns an identified hospital export (a [source.Export] in the
// cohort data model) into a de-identified dataset on disk: one folder of
// Parquet files per table, the policy actually applied (policy.yaml) and the
// de-identification report (deid-report.json).
//
// A [Policy] says, per table and column, what happens; [Preset] gives the
// policy of each [Mode] (expert, safe-harbor, limited). The engine pseudonymizes
// ids with a keyed HMAC-SHA256 (or, in safe-harbor mode, random surrogate ids
// whose mapping stays in the data directory), shifts dates per person or
// reduces them to years or day offsets, cuts ZIP codes to three digits,
// top-codes ages over 89, drops opted-out persons, reaches k-anonymity over
// quasi-identifiers by the least lossy generalization (see [Problem.Search]) and
// measures the re-identification risk.
//
// Memory does not hold the export: tables stream through, two at a time
// (parse, de-identify and encode overlap), and what is kept per person for
// the whole run is 48 bytes plus a 12 to 24-byte slot of a pointer-free
// index of hashed source ids. The identifiers that scrub a person's notes
// wait in an unlinked temporary file beside the output, and safe-harbor
// surrogates of persons and visits live in one sorted file per domain in
// the data directory (<data>/deid/person.sur, visit.sur: keyed hashes of
// the source ids with random surrogates, never the ids; see
// surrogateStore), so neither grows the heap with the export: a run holds
// one hash per 128 stored ids, plus about 40 bytes per id it meets for the
// first time until the run saves them. The person.map and visit.map of
// earlier versions are imported on first use. The source adapters check
// patient ids against a like set of salted hashes (deid/internal/idset),
// not a map of the ids, so that the heap the garbage collector scans stays
// small; [TuneGC] gives a run the collector
// settings of a batch job.
//
// It is not a source adapter (package deid/source reads exports), and it does
// not publish: package cohort reads the report's documented JSON fields.
// Free-text scrubbing lives in the sub-package deid/scrub.
package deid
