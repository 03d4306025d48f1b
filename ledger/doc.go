// Package ledger is cohortnet's witnessed append-only log of publications,
// retractions, access requests, grants, revocations, data accesses and
// aggregate releases.
//
// The log is a C2SP tlog-tiles transparency log run with Trillian Tessera's
// POSIX driver ([Operator]); its checkpoints are C2SP tlog-checkpoint signed
// notes, signed by the operator's identity key, and cosigned (C2SP
// tlog-cosignature) by the consortium's witnesses ([Witness]), each of which
// first checks a consistency proof from the last checkpoint it cosigned
// (C2SP tlog-witness). An author submits a signed [Entry] and gets back a
// [Commitment]: the entry's index, a checkpoint cosigned by the quorum, and an
// inclusion proof, which anyone verifies offline with the operator's and
// witnesses' keys ([VerifyCommitment]). A [Mirror] follows the log, checks each
// new checkpoint against the last one it saw and keeps a verified copy that
// callers query ([State]).
//
// Everything speaks HTTP through http.Handlers and clients that take an
// *http.Client, so the network layer can carry the same exchanges over libp2p.
// The operator's handler ([Operator.Handler]), mounted at the log's URL:
//
//	GET  checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]
//	     C2SP tlog-tiles, for anyone; a mirror serves the same ([Mirror.Handler]).
//	POST add-entry
//	     body: an encoded, signed [Entry] (at most [MaxEntrySize] bytes).
//	     200: the [Commitment] as JSON, once a checkpoint cosigned by the
//	          quorum covers the entry (a resubmitted entry gets its commitment again);
//	     400: not a well-formed, correctly signed entry ([ErrMalformed]);
//	     403: refused, with the reason as text ([ErrRefused]);
//	     503: the operator cannot append now; retry later.
//
// The witness's handler ([Witness.Handler]) answers C2SP tlog-witness
// POST add-checkpoint with cosignature/v1 lines, 409 text/x.tlog.size when
// the caller's old size is wrong, and 4xx refusals otherwise.
//
// It is not the access policy (p2p decides who may fetch what from the
// answers of [State]) nor the manifest format (cohort): it records manifest
// CIDs and dataset names as plain values.
//
// Keys: the operator signs checkpoints and witnesses cosign them with their
// libp2p Ed25519 identity keys, in note form (consortium.NoteSigner,
// consortium.CosignatureSigner), so the verifier keys in the consortium
// configuration are checked against the peer ids that hold them.
package ledger
