package ledger_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/multiformats/go-multihash"

	"github.com/cohortnet/cohortnet/ledger"
)

// An author signs an entry; anyone decodes it and checks the signature with
// the key inside the author's peer id.
func ExampleEntry_Sign() {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	mh, _ := multihash.Sum([]byte("a manifest"), multihash.SHA2_256, -1)

	e := ledger.NewEntry(ledger.KindPublish, time.Now())
	e.Manifest = cid.NewCidV1(cid.DagCBOR, mh)
	e.Dataset, e.Version, e.Access = "hospital-a/diabetes", 1, "restricted"
	encoded, err := e.Sign(key)
	if err != nil {
		panic(err)
	}

	got, err := ledger.Unmarshal(encoded)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Kind, got.Dataset, got.Version, got.Access, got.Verify() == nil)
	// Output: publish hospital-a/diabetes 1 restricted true
}
