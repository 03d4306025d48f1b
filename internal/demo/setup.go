package demo

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// tiers are the hospitals' access tiers, in turn.
var tiers = []string{cohort.AccessRestricted, cohort.AccessRegistered, cohort.AccessAggregateOnly}

// newParticipant initializes a data directory under the demo's directory.
func (d *Demo) newParticipant(name, short, role string) (*participant, error) {
	dir := datadir.Open(filepath.Join(d.Dir, short))
	if _, err := dir.Init(datadir.InitOptions{Config: datadir.Config{Name: name, ShortName: short, Roles: []string{role}}}); err != nil {
		return nil, fmt.Errorf("init %s: %w", short, err)
	}
	id, err := dir.PeerID()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", short, err)
	}
	key, err := dir.Identity()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", short, err)
	}
	return &participant{name: name, short: short, role: role, dir: dir, id: id, key: key}, nil
}

// freeURL is an http URL on a loopback port nothing listens on now.
func freeURL() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "http://" + ln.Addr().String(), nil
}

// setUp makes every data directory and the signed consortium configuration,
// installed in all of them.
func (d *Demo) setUp(ctx context.Context) error {
	var err error
	if d.admin, err = d.newParticipant("Consortium administrator", "admin", "researcher"); err != nil {
		return err
	}
	if _, err := consortium.Init(d.admin.dir, "cohortnet demo consortium"); err != nil {
		return err
	}
	if d.operator, err = d.newParticipant("Ledger operator", "ledger", "ledger"); err != nil {
		return err
	}
	for i := range 2 {
		w, err := d.newParticipant(fmt.Sprintf("Witness %d", i+1), fmt.Sprintf("witness-%d", i+1), "witness")
		if err != nil {
			return err
		}
		d.witnesses = append(d.witnesses, w)
	}
	for i := range d.cfg.hospitals() {
		letter := string(rune('A' + i%26))
		if i >= 26 {
			letter += fmt.Sprint(i / 26)
		}
		h, err := d.newParticipant("Hospital "+letter, "hospital-"+strings.ToLower(letter), "hospital")
		if err != nil {
			return err
		}
		h.access = tiers[i%len(tiers)]
		d.hospitals = append(d.hospitals, h)
	}
	if d.research, err = d.newParticipant("University research lab", "research-lab", "researcher"); err != nil {
		return err
	}
	if d.agency, err = d.newParticipant("Public health agency", "agency", "agency"); err != nil {
		return err
	}

	draft, err := consortium.LoadDraft(d.admin.dir)
	if err != nil {
		return err
	}
	for _, m := range d.members() {
		if err := draft.AddMember(consortium.Member{Peer: m.id, Name: m.name, ShortName: m.short, Roles: []string{m.role}}); err != nil {
			return err
		}
	}
	if d.ledgerURL, err = freeURL(); err != nil {
		return err
	}
	if err := draft.SetLedger(d.operator.id, d.ledgerURL, "", nil); err != nil {
		return err
	}
	for _, w := range d.witnesses {
		u, err := freeURL()
		if err != nil {
			return err
		}
		if err := draft.AddWitness(w.id, u, w.short); err != nil {
			return err
		}
	}
	if err := draft.SetQuorum(len(d.witnesses)); err != nil {
		return err
	}
	if err := consortium.SaveDraft(d.admin.dir, draft); err != nil {
		return err
	}
	s, err := consortium.SignDraft(d.admin.dir)
	if err != nil {
		return err
	}
	for _, p := range d.all() {
		if _, err := consortium.Install(p.dir, s.File, consortium.InstallOptions{Key: s.Key}); err != nil {
			return fmt.Errorf("install the configuration at %s: %w", p.short, err)
		}
	}
	d.say("consortium %q: %d members, ledger operator at %s, %d witnesses (quorum %d), data in %s",
		s.Config.Name, len(d.members()), d.ledgerURL, len(d.witnesses), len(d.witnesses), d.Dir)
	return nil
}

// members are the participants with a libp2p host.
func (d *Demo) members() []*participant {
	return append(append([]*participant{}, d.hospitals...), d.research, d.agency)
}

func (d *Demo) all() []*participant {
	return append(append([]*participant{d.operator}, d.witnesses...), d.members()...)
}

func joinShort(ps []*participant) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.short)
	}
	return strings.Join(s, ", ")
}

// prepareHospitals makes each hospital's synthetic export (PHI included) and
// de-identifies it in expert mode, the hospitals side by side.
func (d *Demo) prepareHospitals(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(d.hospitals))
	sem := make(chan struct{}, 2)
	for i, h := range d.hospitals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = d.prepareHospital(ctx, i, h)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", d.hospitals[i].short, err)
		}
	}
	return nil
}

func (d *Demo) prepareHospital(ctx context.Context, i int, h *participant) error {
	t0 := time.Now()
	exportDir := filepath.Join(d.Dir, "exports", h.short)
	if _, err := synth.Generate(ctx, synth.Config{Patients: d.cfg.patients(), Seed: d.cfg.seed() + int64(i), Out: exportDir, Institution: h.short}); err != nil {
		return fmt.Errorf("synthesize: %w", err)
	}
	h.export = exportDir
	exp, err := source.Open(exportDir, source.FormatSyntheaCSV)
	if err != nil {
		return fmt.Errorf("open the export: %w", err)
	}
	defer exp.Close()
	secret, err := h.dir.Secret()
	if err != nil {
		return err
	}
	t1 := time.Now()
	out := filepath.Join(d.Dir, "deid", h.short)
	rep, err := deid.Run(ctx, exp, out, deid.Config{Policy: demoPolicy(), Key: secret, Logger: d.log})
	if err != nil {
		return fmt.Errorf("de-identify: %w", err)
	}
	levels := []string{}
	if k := rep.KAnonymity; k != nil {
		for _, qi := range k.QuasiIdentifiers {
			levels = append(levels, fmt.Sprintf("%s %d/%d", qi, k.Levels[qi], k.Heights[qi]-1))
		}
	}
	d.say("%s: synthetic export of %d patients in %.1fs, de-identified (expert mode) in %.1fs: %s",
		h.short, d.cfg.patients(), t1.Sub(t0).Seconds(), time.Since(t1).Seconds(), "k-anonymity generalization "+strings.Join(levels, ", "))
	return nil
}

// demoPolicy is the expert preset with k-anonymity (k = 11) over year of
// birth, gender and ZIP3: with race and ethnicity as quasi-identifiers too,
// populations of a few thousand lose the year of birth entirely, and the
// demo's researcher wants ages.
func demoPolicy() *deid.Policy {
	p := deid.Preset(deid.Expert, false, deid.DefaultReferenceDate)
	if p.KAnonymity != nil {
		k := *p.KAnonymity
		k.QuasiIdentifiers = []string{"year_of_birth", "gender", "zip3"}
		p.KAnonymity = &k
	}
	return p
}
