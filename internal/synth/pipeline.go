package synth

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Patients are generated in batches by a few goroutines, each with its own
// copy of the generator, and written by one in patient order. Every patient
// comes from its own random stream, so the bytes do not depend on how many
// goroutines there are.

const batchSize = 256

// workersOverride, when above 0, fixes the number of generating goroutines
// (tests compare 1 with several).
var workersOverride int

// batch holds the rows of batchSize patients for every output file, in
// memory, in the order of the export's files.
type batch struct {
	format sink
	notes  *noteSink
	outs   []*outFile
}

func newBatch(g *generator) (*batch, error) {
	var (
		f   sink
		err error
	)
	if g.cfg.Format == FormatFHIR {
		f, err = newFHIRSink("", g)
	} else {
		f, err = newCSVSink("", g)
	}
	if err != nil {
		return nil, err
	}
	n, err := newNoteSink("")
	if err != nil {
		return nil, err
	}
	return &batch{format: f, notes: n, outs: append(f.outputs(), n.outputs()...)}, nil
}

// clone returns a generator for another goroutine: it shares the read-only
// tables and has its own random stream and scratch space.
func (g *generator) clone() *generator {
	c := new(generator)
	*c = *g
	c.r = rand.New(&c.src)
	c.plans = nil
	return c
}

// generateBatches generates cfg.Patients patients and calls emit with each
// batch in patient order, with the number of patients done so far. It
// returns when all are emitted, emit fails, or ctx is cancelled; its
// goroutines have stopped by then.
func generateBatches(ctx context.Context, g *generator, emit func(b *batch, done int) error) error {
	n := g.cfg.Patients
	nb := (n + batchSize - 1) / batchSize
	// One goroutine writes; the others generate. Writing several GB is
	// mostly the disk's time, so a few generators keep up.
	w := min(runtime.GOMAXPROCS(0)-1, 3)
	if workersOverride > 0 {
		w = workersOverride
	}
	w = max(min(w, nb), 1)

	type lane struct{ ready, free chan *batch }
	lanes := make([]lane, w)
	gens := make([]*generator, w)
	for k := range lanes {
		lanes[k] = lane{ready: make(chan *batch, 2), free: make(chan *batch, 2)}
		gens[k] = g.clone()
		for j := 0; j < 2; j++ {
			b, err := newBatch(gens[k])
			if err != nil {
				return err
			}
			lanes[k].free <- b
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for k := range lanes {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			g, l := gens[k], lanes[k]
			p := newPatient()
			for bi := k; bi < nb; bi += w {
				var b *batch
				select {
				case b = <-l.free:
				case <-stop:
					return
				}
				for _, o := range b.outs {
					o.reset()
				}
				for i := bi * batchSize; i < min((bi+1)*batchSize, n); i++ {
					g.patient(p, i)
					// In-memory outFiles cannot fail.
					_ = b.format.write(p)
					_ = b.notes.write(p)
				}
				select {
				case l.ready <- b:
				case <-stop:
					return
				}
			}
		}(k)
	}
	for bi := 0; bi < nb; bi++ {
		l := lanes[bi%w]
		var b *batch
		select {
		case b = <-l.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := emit(b, min((bi+1)*batchSize, n)); err != nil {
			return err
		}
		l.free <- b
	}
	return nil
}
