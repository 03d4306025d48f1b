package p2p_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/p2p"
)

// A provider serves a file from its store; a member fetches it, verified
// chunk by chunk, into its own store.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "p2p-example")
	defer os.RemoveAll(dir)

	// The file as the manifest describes it: CID, size, chunk digests.
	store := filepath.Join(dir, "provider-store")
	os.Mkdir(store, 0o755)
	tmp := filepath.Join(dir, "cohort.parquet")
	os.WriteFile(tmp, make([]byte, 10<<20), 0o644)
	file, _ := p2p.DescribeFile(tmp, p2p.DefaultChunkSize)
	os.Rename(tmp, filepath.Join(store, file.CID.String()))

	// Two members of one consortium, on loopback.
	k1, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	k2, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id1, _ := peer.IDFromPrivateKey(k1)
	id2, _ := peer.IDFromPrivateKey(k2)
	members := p2p.NewMemberSet(id1, id2)
	listen := []string{"/ip4/127.0.0.1/tcp/0"}
	provider, _ := p2p.New(p2p.Config{Identity: k1, Listen: listen, Members: members})
	defer provider.Close()
	member, _ := p2p.New(p2p.Config{Identity: k2, Listen: listen, Members: members})
	defer member.Close()

	srv, _ := p2p.NewChunkServer(provider, p2p.ServerConfig{
		Source: p2p.DirSource{Dir: store},
		Authorize: p2p.AuthorizerFunc(func(ctx context.Context, p peer.ID, file cid.Cid) error {
			return nil // the node asks its ledger mirror for a live grant here
		}),
	})
	defer srv.Close()

	member.Connect(ctx, provider.AddrInfo())
	sink := &p2p.DirSink{Dir: filepath.Join(dir, "member-store")}
	res, err := p2p.Fetch(ctx, member, sink, []p2p.File{file}, []peer.ID{provider.ID()}, p2p.FetchConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("fetched %d MiB in %d chunks\n", res.Bytes>>20, res.Providers[provider.ID()].Chunks)
	// Output: fetched 10 MiB in 3 chunks
}
