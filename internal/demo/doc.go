// Package demo runs cohortnet's embedded demonstration: in one process, a
// consortium with a ledger operator, two witnesses, hospitals with different
// synthetic populations, a researcher and an agency, each with its own data
// directory and (for the members) a real libp2p host on loopback. It plays the
// whole story: the hospitals de-identify and publish under three access tiers,
// the publications are anchored in the witnessed ledger and announced by
// gossip, the researcher verifies them, asks for access, is granted by one
// hospital and refused by another, fetches and queries; the agency pulls
// adverse-event counts from every hospital and the planted signals come out
// flagged; the ledger's audit trail shows every grant, fetch and release.
//
// It is a story told with the packages' public APIs, for people meeting the
// system and for end-to-end tests. It is not the node daemon (package node)
// and holds no protocol of its own beyond what the demo needs to tie the
// packages together (an announcement format and an adverse-event request
// over libp2p HTTP), both local to this package.
package demo
