package consortium_test

import (
	"crypto/rand"
	"fmt"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

// The consortium key holder creates a consortium, adds a member and signs
// version 2; a member's node installs it.
func Example() {
	adminDir, _ := os.MkdirTemp("", "admin")
	nodeDir, _ := os.MkdirTemp("", "node")
	defer os.RemoveAll(adminDir)
	defer os.RemoveAll(nodeDir)
	admin, node := datadir.Open(adminDir), datadir.Open(nodeDir)

	if _, err := consortium.Init(admin, "Midwest Cohort Network"); err != nil {
		panic(err)
	}
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	hospital, _ := peer.IDFromPrivateKey(k)
	draft, _ := consortium.LoadDraft(admin)
	if err := draft.AddMember(consortium.Member{Peer: hospital, Name: "Hospital A", ShortName: "hospital-a", Roles: []string{"hospital"}}); err != nil {
		panic(err)
	}
	consortium.SaveDraft(admin, draft)
	signed, err := consortium.SignDraft(admin)
	if err != nil {
		panic(err)
	}

	r, err := consortium.Install(node, signed.File, consortium.InstallOptions{Key: signed.Key})
	if err != nil {
		panic(err)
	}
	m, _ := r.Config.Member(hospital)
	fmt.Println(r.Config.Name, "version", r.Config.Version, m.ShortName, m.HasRole("hospital"))
	// Output: Midwest Cohort Network version 2 hospital-a true
}
