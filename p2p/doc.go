// Package p2p is cohortnet's network layer: the libp2p host (TCP with Noise and
// yamux, and QUIC), the members-only connection gater, the resource manager's
// limits, discovery (bootstrap peers, a Kademlia DHT under a private protocol
// prefix), the consortium's GossipSub topics with injected
// validators and peer scoring, and the chunk protocol with its serving side and
// the parallel, verifying, resumable fetch engine; and HTTP over libp2p
// streams ([Host.HandleHTTP], [Host.HTTPClient]) for the ledger's and
// witnesses' HTTP handlers.
//
// It is not the consortium, the ledger or the cohort store: it knows peers,
// CIDs and bytes (and cohort's chained chunk digests, to verify what
// arrives), and asks small interfaces declared here ([Members],
// [Authorizer], [ChunkSource], [ChunkSink], [Accounting], [Validator]) for
// everything else, so that the node can wire it to the signed consortium
// configuration, the ledger's grants and the content-addressed store.
//
// The chunk protocol ([ChunkProtocol]) is a request/response loop on one
// stream: the requester sends (file CID, chunk index, chunk size, and the
// manifest CID of the dataset version it fetches the file for) and the
// server answers with a status byte and either the chunk's bytes or a short
// reason. The requester checks each chunk alone as it arrives, continuing
// the file's SHA-256 from the digest of the chunk before (cohort manifests
// list chained digests whose last is the CID's; see [File]), so a file whose
// chunks all check is the file its CID names and is not hashed again. Every
// request is access-checked ([ManifestAuthorizer] also sees the manifest, so
// a node serving a file that several datasets share counts it only under a
// manifest it published or holds); every served chunk is counted in its
// requester's session, which ends after [ServerConfig.IdleTimeout] without
// requests and is then handed to [Accounting] (the later `access` ledger entry).
package p2p
