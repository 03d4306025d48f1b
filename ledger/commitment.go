package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"

	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/cohortnet/cohortnet/consortium"
)

// Commitment is what an author gets back for an entry: where it is in the log,
// a checkpoint cosigned by the witness quorum that covers it, and the
// inclusion proof from the entry to the checkpoint's root. It carries the
// entry itself, so it verifies offline on its own ([VerifyCommitment]). In
// JSON, Entry and Proof are base64 and Checkpoint is the note text.
type Commitment struct {
	Index      uint64   `json:"index"`
	Entry      []byte   `json:"entry"`
	Checkpoint string   `json:"checkpoint"`
	Proof      [][]byte `json:"proof"`
}

// Verifiers are the keys that make a checkpoint count: the operator's
// signature on the origin's checkpoint, and cosignatures from at least Quorum
// of the witnesses.
type Verifiers struct {
	Origin    string
	Log       note.Verifier
	Witnesses []note.Verifier // cosignature/v1 verifiers
	Quorum    int
}

// VerifiersFor returns the verifiers a consortium configuration names.
func VerifiersFor(c *consortium.Config) (Verifiers, error) {
	lv, err := c.LedgerVerifier()
	if err != nil {
		return Verifiers{}, err
	}
	ws, err := c.WitnessVerifiers()
	if err != nil {
		return Verifiers{}, err
	}
	return Verifiers{Origin: c.Ledger.Origin, Log: lv, Witnesses: ws, Quorum: c.Quorum}, nil
}

// Errors of checkpoint verification. Each means the checkpoint must not be
// trusted; report it with the source it came from.
var (
	ErrCheckpointSignature = errors.New("ledger: checkpoint is not signed by the ledger operator")
	ErrQuorum              = errors.New("ledger: checkpoint lacks the witness quorum")
	ErrInclusion           = errors.New("ledger: inclusion proof does not lead to the checkpoint's root")
	ErrInconsistent        = errors.New("ledger: checkpoint is inconsistent with an earlier one")
)

// OpenCheckpoint verifies a checkpoint note: the operator's signature, the
// origin, and at least Quorum distinct witness cosignatures. It returns the
// parsed checkpoint and how many witnesses cosigned.
func (v Verifiers) OpenCheckpoint(b []byte) (*flog.Checkpoint, int, error) {
	if v.Log == nil {
		return nil, 0, errors.New("ledger: no ledger verifier key")
	}
	cp, _, n, err := flog.ParseCheckpoint(b, v.Origin, v.Log, v.Witnesses...)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCheckpointSignature, err)
	}
	cosigned := 0
	for _, w := range v.Witnesses {
		for _, s := range n.Sigs {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				cosigned++
				break
			}
		}
	}
	if cosigned < v.Quorum {
		return cp, cosigned, fmt.Errorf("%w: %d of %d cosignatures", ErrQuorum, cosigned, v.Quorum)
	}
	return cp, cosigned, nil
}

// LeafHash is the RFC 6962 leaf hash of an encoded entry.
func LeafHash(encoded []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(encoded) }

// VerifyCommitment checks a commitment offline: the checkpoint with v, the
// entry's encoding and signature, and the inclusion proof. It returns the
// decoded entry and the checkpoint.
func VerifyCommitment(c *Commitment, v Verifiers) (*Entry, *flog.Checkpoint, error) {
	cp, _, err := v.OpenCheckpoint([]byte(c.Checkpoint))
	if err != nil {
		return nil, nil, err
	}
	e, err := Unmarshal(c.Entry)
	if err != nil {
		return nil, nil, err
	}
	if err := e.Verify(); err != nil {
		return nil, nil, err
	}
	if err := verifyInclusion(c, cp); err != nil {
		return nil, nil, err
	}
	return e, cp, nil
}

func verifyInclusion(c *Commitment, cp *flog.Checkpoint) error {
	if c.Index >= cp.Size {
		return fmt.Errorf("%w: index %d is beyond checkpoint size %d", ErrInclusion, c.Index, cp.Size)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, c.Index, cp.Size, LeafHash(c.Entry), c.Proof, cp.Hash); err != nil {
		return fmt.Errorf("%w: entry %d: %v", ErrInclusion, c.Index, err)
	}
	return nil
}

// entryKey is the dedup key of an encoded entry.
func entryKey(encoded []byte) [32]byte { return sha256.Sum256(encoded) }
