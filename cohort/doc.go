// Package cohort is datasets and manifests: content identifiers (CIDs) for
// data files, the node's content-addressed file store, cohort manifests in
// DAG-CBOR with their own CIDs, signing and verifying them with the node key,
// the local catalogue of dataset versions, and publishing a de-identified
// dataset folder.
//
// A data file's CID is CIDv1 with codec raw and a sha2-256 multihash over the
// whole file, so any multiformats implementation computes the same CID for the
// same bytes. Each file is also cut into [ChunkSize] chunks whose digests
// the manifest lists, so a receiver can verify chunk by chunk, in any order
// ([Store.Receive], [VerifyChunk]). A chunk digest is not a separate hash of
// the chunk: it is the whole file's SHA-256 chaining value at the end of the
// chunk (the eight state words, as the hash stands there), and the last
// chunk's digest is the file's sha256, the one in its CID. So a file is
// hashed once for its CID and its chunk list; a chunk is checked by resuming
// SHA-256 from the digest before it; and a file whose chunks all check hashes
// to its CID, with no second pass. Tools that know nothing of chunks (IPFS,
// sha256sum) check the whole file against its raw CID as before. A manifest
// is DAG-CBOR (codec 0x71), decodable by any IPLD tool; its CID is what a
// publisher signs and the ledger anchors.
//
// It is not de-identification (package deid writes the folders this package
// publishes; cohort reads deid's report JSON with its own structs), not the
// ledger (anchoring a manifest CID), and not the network (fetching chunks from
// peers): those packages call this one. It imports no other cohortnet package
// except internal/datadir.
package cohort
