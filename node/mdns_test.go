package node

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

// Two members with Config.MDNS find each other on the local network without
// any address given; a consortium of their own keeps them apart from the
// shared test network.
func TestMDNSFindsMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	if !haveMulticast() {
		t.Skip("no multicast-capable network interface besides loopback")
	}
	ctx := t.Context()
	root := t.TempDir()
	admin := datadir.Open(filepath.Join(root, "admin"))
	if _, err := consortium.Init(admin, "mDNS test"); err != nil {
		t.Fatal(err)
	}
	draft, err := consortium.LoadDraft(admin)
	if err != nil {
		t.Fatal(err)
	}
	var ms []*member
	for _, short := range []string{"lan-a", "lan-b"} {
		d := datadir.Open(filepath.Join(root, short))
		res, err := d.Init(datadir.InitOptions{Config: datadir.Config{Name: short, ShortName: short, Roles: []string{"researcher"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := draft.AddMember(consortium.Member{Peer: res.PeerID, Name: short, ShortName: short, Roles: []string{"researcher"}}); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, &member{short: short, d: d, id: res.PeerID})
	}
	if err := consortium.SaveDraft(admin, draft); err != nil {
		t.Fatal(err)
	}
	s, err := consortium.SignDraft(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, err := consortium.Install(m.d, s.File, consortium.InstallOptions{Key: s.Key}); err != nil {
			t.Fatal(err)
		}
		n, err := Open(ctx, Config{Data: m.d, Listen: []string{"/ip4/0.0.0.0/tcp/0"}, API: "off", MDNS: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		m.node = n
	}
	eventually(t, 20*time.Second, "the two members find each other by mDNS", func() bool {
		return len(ms[0].node.Host().Network().ConnsToPeer(ms[1].id)) > 0
	})
}

// haveMulticast reports whether an interface other than loopback is up and
// multicast-capable (mDNS needs one).
func haveMulticast() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 && i.Flags&net.FlagLoopback == 0 {
			return true
		}
	}
	return false
}
