package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/synth"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/p2p"
	"github.com/cohortnet/cohortnet/query"
)

// discovered is a publication as the researcher received and verified it.
type discovered struct {
	sm         *cohort.SignedManifest
	m          *cohort.Manifest
	cid        cid.Cid
	commitment *ledger.Commitment
	hospital   *participant
}

// startNetwork starts a libp2p host for every member, connects the
// researcher and the agency to every hospital, opens the stores and starts
// each hospital's chunk server and adverse-event handler.
func (d *Demo) startNetwork(ctx, bg context.Context) error {
	signed, err := consortium.Load(d.research.dir)
	if err != nil {
		return err
	}
	if d.verifiers, err = ledger.VerifiersFor(signed.Config); err != nil {
		return err
	}
	var ids []peer.ID
	for _, m := range d.members() {
		ids = append(ids, m.id)
	}
	members := p2p.NewMemberSet(ids...)
	// The researcher's validator drops announcements that do not verify
	// before they reach its subscription.
	validate := func(_ context.Context, msg p2p.Message) error {
		_, _, _, _, err := verifyAnnouncement(msg.Data, d.verifiers)
		return err
	}
	for _, m := range d.members() {
		h, err := p2p.New(p2p.Config{Identity: m.key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Members: members,
			Consortium: "cohortnet-demo", ValidateAnnouncement: validate, Logger: d.log})
		if err != nil {
			return fmt.Errorf("%s: host: %w", m.short, err)
		}
		m.host = h
		d.closers = append(d.closers, h.Close)
	}
	for _, m := range append(d.hospitals, d.research) {
		if m.store, err = cohort.OpenDataStore(m.dir); err != nil {
			return fmt.Errorf("%s: %w", m.short, err)
		}
	}
	for _, a := range []*participant{d.research, d.agency} {
		for _, h := range d.hospitals {
			if err := a.host.Connect(ctx, h.host.AddrInfo()); err != nil {
				return fmt.Errorf("connect %s to %s: %w", a.short, h.short, err)
			}
		}
	}
	for _, h := range d.hospitals {
		o, err := ledgerd.OpenMirror(ctx, h.dir, nil, false)
		if err != nil {
			return fmt.Errorf("%s: ledger mirror: %w", h.short, err)
		}
		s := &hospitalServer{d: d, h: h, mirror: o.Mirror, files: map[cid.Cid]cid.Cid{}, dataset: map[cid.Cid]*cohort.Manifest{},
			sessions: make(chan p2p.Session, 64)}
		srv, err := p2p.NewChunkServer(h.host, p2p.ServerConfig{
			Source:      p2p.DirSource{Dir: h.store.Dir() + "/blobs"},
			Authorize:   s,
			SessionKey:  s.sessionKey,
			IdleTimeout: 300 * time.Millisecond,
			Accounting:  p2p.AccountingFunc(func(ss p2p.Session) { s.sessions <- ss }),
			Logger:      d.log,
		})
		if err != nil {
			return fmt.Errorf("%s: chunk server: %w", h.short, err)
		}
		d.closers = append(d.closers, srv.Close)
		h.host.HandleHTTP(aeProtocol, s)
		d.servers = append(d.servers, s)
		d.goBG(h.short+" access entries", func() error {
			for {
				select {
				case <-bg.Done():
					return nil
				case ss := <-s.sessions:
					if ss.Chunks == 0 {
						d.say("%s refused %d chunk requests from %s for %s (nothing served, no access entry)", h.short, ss.Denied, d.shortOf(ss.Requester), s.nameOf(ss.Key))
						continue
					}
					if err := s.record(bg, ss); err != nil && bg.Err() == nil {
						return fmt.Errorf("access entry: %w", err)
					}
					d.say("%s recorded in the ledger: %s fetched %d chunks (%d bytes) of %s", h.short, d.shortOf(ss.Requester), ss.Chunks, ss.Bytes, s.nameOf(ss.Key))
				}
			}
		})
	}
	d.say("%d members on libp2p (TCP, Noise, yamux) on loopback; the researcher and the agency connected to every hospital", len(d.members()))
	return nil
}

func (s *hospitalServer) nameOf(c cid.Cid) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.dataset[c]; m != nil {
		return m.Name
	}
	return c.String()
}

func (d *Demo) shortOf(id peer.ID) string {
	for _, p := range d.all() {
		if p.id == id {
			return p.short
		}
	}
	return id.String()
}

// publish imports each hospital's de-identified folder into its store as a
// signed manifest, anchors it in the ledger and opens its query engine.
func (d *Demo) publish(ctx, _ context.Context) error {
	for i, h := range d.hospitals {
		p, err := cohort.Publish(ctx, h.store, cohort.Signer{Key: h.key, Institution: h.short, Name: h.name}, cohort.PublishOptions{
			Dir: d.deidDir(h), Name: "synthetic-ehr", Title: h.name + " synthetic EHR cohort",
			Description: "Synthetic patients with planted adverse-event signals (cohortnet demo)",
			License:     "CC-BY-4.0", Access: h.access, Logger: d.log,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", h.short, err)
		}
		h.published = p
		m := p.Manifest
		cm, err := ledgerd.AnchorPublish(ctx, h.dir, p.CID, m.Name, m.Version, m.Access, nil)
		if err != nil {
			return fmt.Errorf("%s: anchor: %w", h.short, err)
		}
		s := d.servers[i]
		s.mu.Lock()
		s.dataset[p.CID] = m
		for _, f := range m.Files() {
			s.files[f.CID] = p.CID
		}
		s.mu.Unlock()
		ds := datasetFor(h.store, p.CID, m, true)
		if h.engine, err = query.Open(ctx, query.Config{Threads: 1, MemoryLimit: 512 << 20, Logger: d.log}, []query.Dataset{ds}); err != nil {
			return fmt.Errorf("%s: query engine: %w", h.short, err)
		}
		d.closers = append(d.closers, h.engine.Close)
		var persons int64
		if m.Summary != nil {
			persons = m.Summary.Persons
		}
		d.Result.Published = append(d.Result.Published, Published{Dataset: m.Name, Institution: h.short, Access: m.Access,
			Manifest: p.CID.String(), Version: m.Version, Persons: persons, Files: p.Files, Bytes: p.Bytes, LedgerIndex: cm.Index})
		d.say("%s published %s v%d (%s, %d persons, %d files, %d bytes)\n          manifest %s, ledger entry %d, cosigned by %d witnesses",
			h.short, m.Name, m.Version, m.Access, persons, p.Files, p.Bytes, p.CID, cm.Index, len(d.witnesses))
		b, err := p.Signed.Encode()
		if err != nil {
			return err
		}
		if h.announcement, err = json.Marshal(announcement{Manifest: b, Commitment: cm}); err != nil {
			return err
		}
	}
	return nil
}

func (d *Demo) deidDir(h *participant) string { return d.Dir + "/deid/" + h.short }

// discover has the hospitals announce their publications by gossip until the
// researcher has received (and its validator verified) every one.
func (d *Demo) discover(ctx, _ context.Context) error {
	sub, err := d.research.host.Subscribe(p2p.Announcements)
	if err != nil {
		return err
	}
	defer sub.Cancel()
	for _, h := range d.hospitals {
		hs, err := h.host.Subscribe(p2p.Announcements) // joins the mesh
		if err != nil {
			return err
		}
		defer hs.Cancel()
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	d.discovered = map[string]*discovered{}
	var wg sync.WaitGroup
	wg.Go(func() { // announce again until heard: the gossip mesh forms in a heartbeat or two
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			for _, h := range d.hospitals {
				_ = h.host.Publish(ctx, p2p.Announcements, h.announcement)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	defer wg.Wait()
	defer cancel()
	for len(d.discovered) < len(d.hospitals) {
		msg, err := sub.Next(ctx)
		if err != nil {
			return fmt.Errorf("heard %d of %d announcements: %w", len(d.discovered), len(d.hospitals), err)
		}
		sm, m, c, cm, err := verifyAnnouncement(msg.Data, d.verifiers)
		if err != nil {
			return err // the validator let it through: should not happen
		}
		if _, ok := d.discovered[m.Name]; ok {
			continue
		}
		if _, _, err := d.research.store.AddManifest(sm); err != nil { // the researcher's catalogue lists it
			return fmt.Errorf("keep the manifest of %s: %w", m.Name, err)
		}
		var from *participant
		for _, h := range d.hospitals {
			if h.id == msg.From {
				from = h
			}
		}
		if from == nil {
			return fmt.Errorf("announcement of %s from %s, not a hospital", m.Name, msg.From)
		}
		d.discovered[m.Name] = &discovered{sm: sm, m: m, cid: c, commitment: cm, hospital: from}
		for i := range d.Result.Published {
			if d.Result.Published[i].Manifest == c.String() {
				d.Result.Published[i].Verified = []string{"signature", "ledger inclusion"}
			}
		}
		d.say("research-lab heard %s (%s) from %s: signature by %s verified, ledger entry %d verified against a checkpoint cosigned by %d witnesses",
			m.Name, m.Access, from.short, m.Publisher.Name, cm.Index, len(d.witnesses))
	}
	return nil
}

// request files the researcher's access requests; the restricted dataset's
// hospital grants it.
func (d *Demo) request(ctx, _ context.Context) error {
	for _, h := range d.hospitals {
		name := h.published.Manifest.Name
		e := ledger.NewEntry(ledger.KindRequest, time.Now())
		e.Dataset, e.Purpose = name, "pooled analysis of drug safety (cohortnet demo)"
		if _, err := ledgerd.Submit(ctx, d.research.dir, e, nil); err != nil {
			return fmt.Errorf("request %s: %w", name, err)
		}
		d.say("research-lab asked for %s (%s) in the ledger", name, h.access)
		if h.access != cohort.AccessRestricted {
			continue
		}
		g := ledger.NewEntry(ledger.KindGrant, time.Now())
		g.Dataset, g.Grantee, g.Expires, g.Terms = name, d.research.id, time.Now().Add(30*24*time.Hour), "demo data-use agreement"
		if _, err := ledgerd.Submit(ctx, h.dir, g, nil); err != nil {
			return fmt.Errorf("grant %s: %w", name, err)
		}
		d.say("%s granted research-lab access to %s for 30 days", h.short, name)
	}
	return nil
}

// fetch has the researcher fetch every dataset it discovered; the
// aggregate-only one is refused by its hospital.
func (d *Demo) fetch(ctx, _ context.Context) error {
	names := make([]string, 0, len(d.discovered))
	for n := range d.discovered {
		names = append(names, n)
	}
	slices.Sort(names)
	st := d.research.store
	for _, name := range names {
		dc := d.discovered[name]
		t0 := time.Now()
		files := p2pFiles(dc.m)
		fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		res, err := p2p.Fetch(fctx, d.research.host, &storeSink{st: st}, files, []peer.ID{dc.hospital.id}, p2p.FetchConfig{MaxFailures: 1})
		cancel()
		if err != nil {
			if dc.m.Access == cohort.AccessAggregateOnly && errors.Is(err, p2p.ErrRefused) || errors.Is(err, p2p.ErrNoProviders) && dc.m.Access == cohort.AccessAggregateOnly {
				d.Result.Denied = append(d.Result.Denied, Denied{Dataset: name, Access: dc.m.Access, Reason: "refused by " + dc.hospital.short + ": aggregate-only, no rows leave"})
				d.say("%s refused research-lab's fetch of %s: %s, no rows leave", dc.hospital.short, name, dc.m.Access)
				continue
			}
			return fmt.Errorf("fetch %s: %w", name, err)
		}
		if dc.m.Access == cohort.AccessAggregateOnly {
			return fmt.Errorf("fetch %s: an aggregate-only dataset was served", name)
		}
		problems, err := cohort.VerifyDataset(ctx, st, dc.cid)
		if err != nil {
			return fmt.Errorf("verify %s: %w", name, err)
		}
		if len(problems) > 0 {
			return fmt.Errorf("verify %s: %v", name, problems[0])
		}
		for i := range d.Result.Published {
			if d.Result.Published[i].Manifest == dc.cid.String() {
				d.Result.Published[i].Verified = append(d.Result.Published[i].Verified, "cids")
			}
		}
		d.fetched = append(d.fetched, datasetFor(st, dc.cid, dc.m, false))
		d.Result.Fetched = append(d.Result.Fetched, Fetched{Dataset: name, Manifest: dc.cid.String(), Files: len(files), Bytes: res.Bytes, Seconds: roundTo(time.Since(t0).Seconds(), 3)})
		d.say("research-lab fetched %s from %s: %d files, %d bytes in %.2fs, every chunk and file CID verified",
			name, dc.hospital.short, len(files), res.Bytes, time.Since(t0).Seconds())
	}
	// Each served session becomes an access entry once it is idle.
	want := len(d.Result.Fetched)
	deadline := time.Now().Add(30 * time.Second)
	for {
		o, err := ledgerd.OpenMirror(ctx, d.research.dir, nil, false)
		if err != nil {
			return err
		}
		n := 0
		for e, err := range o.Mirror.Entries(ctx) {
			if err != nil {
				return err
			}
			if e.Kind == ledger.KindAccess && e.Requester == d.research.id {
				n++
			}
		}
		if n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d fetch sessions recorded as access entries after 30s", n, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pooledSQL is the researcher's query across the fetched datasets.
const pooledSQL = `SELECT p.source_institution AS institution, count(DISTINCT p.person_id) AS persons,
  count(DISTINCT p.person_id) FILTER (WHERE p.gender = 'F') AS female,
  count(DISTINCT d.person_id) AS with_drugs
FROM cohorts.person p LEFT JOIN cohorts.drug_exposure d
  ON d.person_id = p.person_id AND d.source_dataset = p.source_dataset
GROUP BY 1 ORDER BY 1`

func (d *Demo) pooledQuery(ctx, _ context.Context) error {
	e, err := query.Open(ctx, query.Config{Threads: 2, MemoryLimit: 512 << 20, Logger: d.log}, d.fetched)
	if err != nil {
		return err
	}
	d.researchEngine = e
	d.closers = append(d.closers, e.Close)
	o, err := ledgerd.OpenMirror(ctx, d.research.dir, nil, false)
	if err != nil {
		return err
	}
	rows, err := e.Query(ctx, pooledSQL, query.Options{Checkpoint: string(o.Mirror.Checkpoint())})
	if err != nil {
		return err
	}
	defer rows.Close()
	q := &QueryResult{SQL: pooledSQL}
	for _, c := range rows.Columns() {
		q.Columns = append(q.Columns, c.Name)
	}
	for rows.Next() {
		var r []string
		for _, v := range rows.Values() {
			r = append(r, fmt.Sprint(v))
		}
		q.Rows = append(q.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	q.Manifests = rows.Provenance().Manifests()
	d.Result.Query = q
	d.say("research-lab's pooled query over %d datasets:", len(d.fetched))
	d.say("  %s", strings.Join(q.Columns, " | "))
	for _, r := range q.Rows {
		d.say("  %s", strings.Join(r, " | "))
	}
	return nil
}

// signals has the agency ask every hospital for its adverse-event counts
// over libp2p, verify the signed answers and pool them.
func (d *Demo) signals(ctx, _ context.Context) error {
	truth, err := synth.ReadTruth(d.hospitals[0].export)
	if err != nil {
		return err
	}
	d.truth = truth
	cfg := querySignalConfig()
	body, _ := json.Marshal(cfg)
	var answers []*query.AEAnswer
	for _, h := range d.hospitals {
		hc, err := d.agency.host.HTTPClient(aeProtocol, h.id)
		if err != nil {
			return err
		}
		resp, err := hc.Post("/ae", "application/json", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("ask %s: %w", h.short, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("ask %s: %w", h.short, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ask %s: %s: %s", h.short, resp.Status, strings.TrimSpace(string(b)))
		}
		var wa wireAnswer
		if err := json.Unmarshal(b, &wa); err != nil {
			return fmt.Errorf("answer of %s: %w", h.short, err)
		}
		a := wa.answer()
		if err := a.Verify(); err != nil {
			return err
		}
		if a.Peer != h.id.String() {
			return fmt.Errorf("answer of %s signed by %s", h.short, a.Peer)
		}
		answers = append(answers, a)
		d.say("agency got %s's signed adverse-event counts (%d pairs, cells under %d suppressed)", h.short, len(a.Pairs), a.MinCell)
	}
	sig, rejected := query.PooledSignals(answers, 3, "", "")
	if len(rejected) > 0 {
		return fmt.Errorf("answers rejected: %s", strings.Join(rejected, "; "))
	}
	planted := map[query.Pair]bool{}
	for _, s := range truth.Signals {
		planted[query.Pair{Drug: s.Drug, Event: s.Event}] = true
	}
	slices.SortFunc(sig, func(a, b query.Signal) int {
		if a.Flags.Evans != b.Flags.Evans {
			if a.Flags.Evans {
				return -1
			}
			return 1
		}
		return int(b.A - a.A)
	})
	for _, s := range sig {
		if !s.Flags.Evans || len(d.Result.Signals) == 10 {
			continue
		}
		d.Result.Signals = append(d.Result.Signals, Signal{Drug: s.Drug, DrugName: s.DrugName, Event: s.Event, EventName: s.EventName,
			A: s.A, PRR: roundTo(s.PRR, 3), PRRLow: roundTo(s.PRRLow, 3), PRRHigh: roundTo(s.PRRHigh, 3), ChiSq: roundTo(s.ChiSq, 2),
			IC025: roundTo(s.IC025, 3), Evans: s.Flags.Evans, Planted: planted[s.Pair]})
	}
	for _, t := range truth.Signals {
		p := Planted{Drug: t.Drug, DrugName: t.DrugName, Event: t.Event, EventName: t.EventName, MinA: -1}
		for _, a := range answers {
			var v int64
			for _, ap := range a.Pairs {
				if ap.Pair.Drug == t.Drug && ap.Pair.Event == t.Event && ap.A != nil {
					v = *ap.A
				}
			}
			if p.MinA < 0 || v < p.MinA {
				p.MinA = v
			}
		}
		for _, s := range sig {
			if s.Drug == t.Drug && s.Event == t.Event {
				p.A, p.Flagged = s.A, s.Flags.Evans && s.Flags.IC025
			}
		}
		d.Result.Planted = append(d.Result.Planted, p)
	}
	d.say("pooled signals flagged by the Evans rule (PRR ≥ 2, χ² ≥ 4, a ≥ 3), top %d:", len(d.Result.Signals))
	for _, s := range d.Result.Signals {
		mark := ""
		if s.Planted {
			mark = "  ← planted"
		}
		d.say("  %-28s → %-28s a=%-4d PRR %.2f (%.2f–%.2f) IC025 %.2f%s", clip(s.DrugName, 28), clip(s.EventName, 28), s.A, s.PRR, s.PRRLow, s.PRRHigh, s.IC025, mark)
	}
	var missed []string
	for _, p := range d.Result.Planted {
		if !p.Flagged {
			missed = append(missed, fmt.Sprintf("%s → %s (pooled a=%d, smallest a at one hospital %d)", p.DrugName, p.EventName, p.A, p.MinA))
		}
	}
	if len(missed) > 0 {
		return fmt.Errorf("planted signals not flagged: %s", strings.Join(missed, "; "))
	}
	minA := int64(-1)
	for _, p := range d.Result.Planted {
		if minA < 0 || p.MinA < minA {
			minA = p.MinA
		}
	}
	d.say("all %d planted drug–event pairs came out flagged; every hospital released at least %d cases of each (cells under 11 are suppressed)", len(d.Result.Planted), minA)
	return nil
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// audit reads the researcher's verified mirror of the ledger: the trail of
// every publication, request, grant, fetch and release.
func (d *Demo) audit(ctx, _ context.Context) error {
	o, err := ledgerd.OpenMirror(ctx, d.research.dir, nil, false)
	if err != nil {
		return err
	}
	if o.UpdateErr != nil {
		return o.UpdateErr
	}
	counts := map[ledger.Kind]int{}
	for e, err := range o.Mirror.Entries(ctx) {
		if err != nil {
			return err
		}
		counts[e.Kind]++
		d.Result.Audit = append(d.Result.Audit, d.auditEntry(&e))
	}
	d.Result.LedgerSize = o.Mirror.Size()
	d.Result.Checkpoint = string(o.Mirror.Checkpoint())
	var parts []string
	for _, k := range ledger.Kinds {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	d.say("the ledger holds %d entries (%s), every one verified by research-lab's mirror against the cosigned checkpoint", o.Mirror.Size(), strings.Join(parts, ", "))
	return nil
}

func querySignalConfig() query.SignalConfig {
	return query.SignalConfig{Source: query.SourceExposures, Window: synth.WindowDays}
}

// auditEntry is e as the audit trail shows it, members by short name.
func (d *Demo) auditEntry(e *ledger.Entry) AuditEntry {
	a := AuditEntry{Index: e.Index, Kind: string(e.Kind), Author: d.shortOf(e.Author), Dataset: e.Dataset, Time: e.Time.UTC().Format(time.RFC3339)}
	switch e.Kind {
	case ledger.KindGrant, ledger.KindRevoke:
		a.Subject = d.shortOf(e.Grantee)
	case ledger.KindAccess:
		a.Subject, a.Chunks, a.Bytes = d.shortOf(e.Requester), e.Chunks, e.Bytes
	case ledger.KindRelease:
		a.Subject = d.shortOf(e.Recipient)
	case ledger.KindRequest:
		a.Subject = e.Purpose
	}
	if e.Manifest.Defined() {
		a.Manifest = e.Manifest.String()
	}
	return a
}
