// Package node wires a running cohortnet node together: the content-addressed
// store and its catalogue (package cohort), the installed consortium
// configuration (reloaded when a newer signed one is installed or arrives by
// gossip), the verified ledger mirror and, when the roles say so, the ledger
// operator and witness (package ledger/ledgerd), the libp2p host with its
// members-only gater, gossip validators, chunk server and fetch engine
// (package p2p), and the DuckDB query engine with federated aggregates
// (package query). It serves the local HTTP API under /api/v1 (see
// [Node.Handler]).
//
// Open starts a node from a data directory and Close stops it; several nodes
// may run in one process (the demo and the tests do), each with its own data
// directory. The command line reaches a running node through its HTTP API
// with the token kept in <data>/api.token.
//
// How a node decides:
//   - An announcement (gossip) is a signed manifest with its ledger
//     commitment. It is accepted only when the manifest's signature verifies,
//     its publisher is a member whose short name prefixes the dataset, and the
//     commitment verifies with the consortium's operator and witness keys and
//     records exactly that manifest, dataset, version and publisher.
//   - Checkpoints heard from peers are compared with the mirror's verified
//     copy; a split view is logged at error level, counted in the
//     cohortnet_split_views_total metric and listed by GET
//     /api/v1/ledger/checkpoint.
//   - Every chunk request is decided from the ledger mirror at that moment by
//     the access tier the publish entry recorded: open, any member;
//     registered, a member with a request entry; restricted, a live grant
//     from the publisher; aggregate-only, never. A retracted version is never
//     served. Each fetch session ends in one `access` ledger entry.
//   - The ledger is the source of truth for what exists: a node that joins
//     late walks every publish and retract entry of its mirror and gets the
//     manifests it lacks from their publishers or from DHT providers with the
//     manifest-get protocol ([ManifestProtocol]).
//
// It is not a library of network or ledger primitives (those are p2p and
// ledger) and holds no de-identification: datasets arrive already published
// in the store (cohort.Publish) and the node anchors and announces them.
//
// Peer protocols the node adds to p2p's chunk protocol, both HTTP over
// libp2p streams (p2p.Host.HandleHTTP, members only, bodies capped):
// [ManifestProtocol] (GET /manifest/<cid>), [AggregateProtocol]
// (POST /aggregate, POST /ae) and [LedgerProtocol] (the verified ledger copy,
// read-only tlog-tiles; the mirror reads from members this way when the
// operator's HTTP address is unreachable). A node with the ledger role also
// serves [SubmitProtocol] (POST /add-entry, the operator's own handler) and
// a witness [WitnessProtocol] (POST /add-checkpoint); a member submits over
// HTTP first and over libp2p to the operator's peer only when the HTTP
// request fails in transport (the gater admits the operator and the
// witnesses the configuration names, besides members). Gossip on the announcements topic carries JSON
// envelopes of two kinds: "announce" (signed manifest and commitment) and
// "consortium" (a newer signed configuration file, installed when it is
// signed by the installed key).
//
// Running several nodes in one process (the demo): give each its own data
// directory, Listen on loopback, API "127.0.0.1:0" (or "off" and mount
// [Node.Handler]), and connect them with [Node.Connect] or Config.Peers.
// Open, Config, Close, Handler and the /api/v1 routes are stable.
//
// The operator's requests to its witnesses (Tessera's witness gateway) go to
// their HTTP URLs and, on a transport error, over libp2p [WitnessProtocol].
//
// Known limits: a consortium update that changes the operator or the witness
// keys needs a restart (the node logs it); there is no mDNS discovery (peers
// come from Config.Peers, the consortium's bootstrap addresses and the DHT).
package node
