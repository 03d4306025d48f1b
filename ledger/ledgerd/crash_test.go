package ledgerd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger"
)

const childEnv = "COHORTNET_LEDGERD_TEST_OPERATOR"

// TestMain lets the test binary run as the ledger operator process that
// TestOperatorSurvivesSIGKILL kills.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		err := Run(ctx, Config{Data: datadir.Open(dir), Roles: []string{"ledger"}, MirrorInterval: -1,
			Ready: func(string, string) { fmt.Println("ready") }})
		if err != nil {
			fmt.Fprintln(os.Stderr, "operator:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	klog.LogToStderr(false) // keep Tessera's klog lines out of test output
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// tail keeps the last bytes written to it (the child's log, for failures).
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = t.b[len(t.b)-8<<10:]
	}
	return len(p), nil
}

func startOperatorProcess(t *testing.T, dir string, log *tail) *exec.Cmd {
	t.Helper()
	// A few attempts: the port may be briefly held by someone else.
	for attempt := 1; ; attempt++ {
		cmd, ok := tryStartOperator(t, dir, log)
		if ok {
			return cmd
		}
		if attempt == 5 {
			t.Fatalf("operator process did not start:\n%s", log.b)
		}
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
}

func tryStartOperator(t *testing.T, dir string, log *tail) (*exec.Cmd, bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if ok {
			return cmd, true
		}
	case <-time.After(30 * time.Second):
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, false
}

// The operator is killed with SIGKILL at random moments while members
// submit. After it restarts, every entry that was acknowledged with a
// commitment is in the log at its index, the commitments verify offline,
// and the whole log verifies.
func TestOperatorSurvivesSIGKILL(t *testing.T) {
	kills := 20
	if os.Getenv("COHORTNET_SOAK") == "1" {
		kills = 100
	}
	c := newCluster(t, 3, 2)
	ctx := t.Context()
	for _, w := range c.witnesses {
		run(t, ctx, w, "witness")
	}
	log := &tail{}
	hc := &http.Client{Timeout: 10 * time.Second}

	var mu sync.Mutex
	var acked []*ledger.Commitment
	submitted := 0
	published := false
	for k := 0; k <= kills; k++ {
		cmd := startOperatorProcess(t, c.operator.Path, log)
		if !published {
			pub := ledger.NewEntry(ledger.KindPublish, time.Now())
			pub.Manifest, pub.Dataset, pub.Version, pub.Access = manifestCID("crash"), "hospital-a/crash", 1, "registered"
			cm, err := Submit(ctx, c.hospital, pub, hc)
			if err != nil {
				t.Fatal(err)
			}
			acked, published = append(acked, cm), true
		}
		if k == kills {
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			break
		}
		cctx, cancel := context.WithCancel(ctx)
		firstAck := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; cctx.Err() == nil; i++ {
					e := ledger.NewEntry(ledger.KindRequest, time.Now())
					e.Dataset, e.Purpose = "hospital-a/crash", fmt.Sprintf("run %d worker %d request %d", k, w, i)
					mu.Lock()
					submitted++
					mu.Unlock()
					cm, err := Submit(cctx, c.lab, e, hc)
					if err != nil {
						continue // killed mid-request: not acknowledged
					}
					mu.Lock()
					acked = append(acked, cm)
					mu.Unlock()
					once.Do(func() { close(firstAck) })
				}
			}()
		}
		// Kill at a random moment once this run has acknowledged something,
		// so every run both makes progress and dies mid-stream.
		select {
		case <-firstAck:
		case <-time.After(60 * time.Second):
			t.Fatalf("run %d: no submission acknowledged in 60s\n%s", k, log.b)
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		cancel()
		wg.Wait()
	}

	o, err := OpenMirror(ctx, c.hospital, hc, false)
	if err != nil {
		t.Fatal(err)
	}
	// The restarted operator publishes its pending tree; wait for it to cover
	// every acknowledged entry (it already does: acks come after publication).
	v, err := ledger.VerifiersFor(o.Consortium.Config)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := ledger.HTTPSource(c.ledgerURL, hc)
	r, err := ledger.VerifyLog(ctx, src, v, nil)
	if err != nil {
		t.Fatalf("log after %d kills does not verify: %v\n%s", kills, err, log.b)
	}
	if len(acked) < kills {
		t.Fatalf("only %d of %d submissions acknowledged over %d runs: the operator made no progress\n%s", len(acked), submitted, kills, log.b)
	}
	byIndex := map[uint64][]byte{}
	for e, err := range o.Mirror.Entries(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := e.Marshal()
		byIndex[e.Index] = enc
	}
	for _, cm := range acked {
		if _, _, err := ledger.VerifyCommitment(cm, v); err != nil {
			t.Fatalf("acknowledged commitment %d: %v", cm.Index, err)
		}
		if !bytes.Equal(byIndex[cm.Index], cm.Entry) {
			t.Fatalf("acknowledged entry %d is not in the log at its index after the kills", cm.Index)
		}
	}
	t.Logf("%d kills: %d submissions, %d acknowledged, log size %d, all acknowledged entries present", kills, submitted, len(acked), r.Size)
}
