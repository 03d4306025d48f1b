package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/query"
)

// LocalDatasets lists the datasets of data directory d the query engine
// opens over, without a running node: the latest version of each dataset in
// the store's catalogue whose files are all held, minus versions the local
// ledger mirror (when there is one) says are retracted; and the mirror's
// checkpoint to cite ("" without one).
func LocalDatasets(ctx context.Context, d datadir.Dir) ([]query.Dataset, string, error) {
	st, err := cohort.OpenDataStore(d)
	if err != nil {
		return nil, "", err
	}
	cat, err := st.Catalog(ctx)
	if err != nil {
		return nil, "", err
	}
	self, err := d.PeerID()
	if err != nil {
		return nil, "", err
	}
	retracted := func(cohort.Entry) bool { return false }
	checkpoint := ""
	o, err := ledgerd.OpenMirror(ctx, d, nil, true)
	switch {
	case err == nil:
		checkpoint = string(o.Mirror.Checkpoint())
		retracted = func(e cohort.Entry) bool { return o.Mirror.Retracted(e.CID) }
	case errors.Is(err, consortium.ErrNotInstalled), errors.Is(err, consortium.ErrNoLedger):
	default:
		return nil, "", fmt.Errorf("node: ledger mirror: %w", err)
	}
	return datasetsOf(cat, st, self, retracted), checkpoint, nil
}

// datasetsOf builds the engine's dataset list from a catalogue.
func datasetsOf(cat *cohort.Catalog, st *cohort.Store, self peer.ID, retracted func(cohort.Entry) bool) []query.Dataset {
	var out []query.Dataset
	for _, name := range cat.Datasets() {
		e, err := cat.Latest(name)
		if err != nil || e.Retracted || retracted(e) {
			continue
		}
		m := e.Manifest
		if len(st.Missing(m)) > 0 {
			continue
		}
		mode := m.Deid.Mode
		if mode == cohort.ModeNone || mode == "" {
			mode = query.ModeExpert
		}
		ds := query.Dataset{
			Name: m.Name, Institution: cohort.Institution(m.Name), Manifest: e.CID.String(),
			Mode: mode, Intervals: m.Deid.Intervals, Own: m.Publisher.PeerID == self.String(),
			Tables: map[string][]string{},
		}
		for _, t := range m.Tables {
			if !slices.Contains(query.Tables, t.Name) {
				continue
			}
			for _, f := range t.Files {
				path, err := filepath.Abs(st.Path(f.CID))
				if err != nil {
					path = st.Path(f.CID)
				}
				ds.Tables[t.Name] = append(ds.Tables[t.Name], path)
			}
		}
		out = append(out, ds)
	}
	return out
}
