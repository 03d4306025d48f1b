package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/internal/synth"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/node"
	"github.com/cohortnet/cohortnet/query"
)

// loopback is where the nodes listen.
var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

// startNodes opens a node for every participant: the witnesses and the
// ledger operator (their ledger roles), then the members, connected to each
// other on loopback. The researcher's node serves the local API (and the
// dashboard); the hospitals' nodes answer adverse-event requests
// (node.AggregateProtocol).
func (d *Demo) startNodes(ctx context.Context) error {
	open := func(p *participant, api string, ui http.Handler) error {
		n, err := node.Open(ctx, node.Config{Data: p.dir, Listen: loopback, API: api, UI: ui,
			SyncInterval: 200 * time.Millisecond, SessionIdle: 500 * time.Millisecond, Logger: d.log})
		if err != nil {
			return fmt.Errorf("%s: %w", p.short, err)
		}
		p.node = n
		d.closers = append(d.closers, n.Close)
		return nil
	}
	for _, p := range append(append([]*participant{}, d.witnesses...), d.operator) {
		if err := open(p, "off", nil); err != nil {
			return err
		}
	}
	d.say("ledger operator and witnesses %s running (nodes with the ledger and witness roles)", joinShort(d.witnesses))
	for _, m := range d.members() {
		api, ui := "off", http.Handler(nil)
		if m == d.research {
			api, ui = d.cfg.API, d.cfg.UI
			if api == "" {
				api = "127.0.0.1:0"
			}
		}
		if err := open(m, api, ui); err != nil {
			return err
		}
	}
	ms := d.members()
	for i, a := range ms {
		for _, b := range ms[i+1:] {
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := a.node.Connect(cctx, b.node.AddrInfo())
			cancel()
			if err != nil {
				return fmt.Errorf("connect %s to %s: %w", a.short, b.short, err)
			}
		}
	}
	d.say("%d member nodes on libp2p (TCP, Noise, yamux) on loopback, every one connected to every other", len(ms))
	return nil
}

func (d *Demo) shortOfString(s string) string {
	for _, p := range d.all() {
		if p.id.String() == s {
			return p.short
		}
	}
	return s
}

// publish imports each hospital's de-identified folder into its node's store
// as a signed manifest; the node anchors it in the ledger (witnessed) and
// announces it to every member.
func (d *Demo) publish(ctx context.Context) error {
	for _, h := range d.hospitals {
		p, err := cohort.Publish(ctx, h.node.Store(), cohort.Signer{Key: h.key, Institution: h.short, Name: h.name}, cohort.PublishOptions{
			Dir: d.deidDir(h), Name: "synthetic-ehr", Title: h.name + " synthetic EHR cohort",
			Description: "Synthetic patients with planted adverse-event signals (cohortnet demo)",
			License:     "CC-BY-4.0", Access: h.access, Logger: d.log,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", h.short, err)
		}
		h.published = p
		m := p.Manifest
		cm, err := h.node.Announce(ctx, p.CID)
		if err != nil {
			return fmt.Errorf("%s: %w", h.short, err)
		}
		var persons int64
		if m.Summary != nil {
			persons = m.Summary.Persons
		}
		d.Result.Published = append(d.Result.Published, Published{Dataset: m.Name, Institution: h.short, Access: m.Access,
			Manifest: p.CID.String(), Version: m.Version, Persons: persons, Files: p.Files, Bytes: p.Bytes, LedgerIndex: cm.Index})
		d.say("%s published %s v%d (%s, %d persons, %d files, %d bytes)\n          manifest %s, ledger entry %d in a checkpoint cosigned by %d witnesses, announced",
			h.short, m.Name, m.Version, m.Access, persons, p.Files, p.Bytes, p.CID, cm.Index, len(d.witnesses))
	}
	return nil
}

func (d *Demo) deidDir(h *participant) string { return d.Dir + "/deid/" + h.short }

// researcherSees is the researcher node's catalogue entry for manifest c.
func (d *Demo) researcherSees(c string) (node.Cohort, bool) {
	for _, e := range d.research.node.Cohorts(cohort.Filter{All: true}) {
		if e.Manifest == c {
			return e, true
		}
	}
	return node.Cohort{}, false
}

// discover waits until the researcher's node lists every publication, its
// signature verified and its publish entry in the verified ledger copy.
func (d *Demo) discover(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	seen := map[string]bool{}
	for {
		for i, p := range d.Result.Published {
			if seen[p.Manifest] {
				continue
			}
			e, ok := d.researcherSees(p.Manifest)
			if !ok || !e.Status.Signature || !e.Status.Anchored || e.Status.Witnessed < len(d.witnesses) {
				continue
			}
			seen[p.Manifest] = true
			d.Result.Published[i].Verified = []string{"signature", "ledger inclusion"}
			d.say("research-lab lists %s (%s) from %s: signature verified, publish entry %d in its verified ledger copy, %d witness cosignatures",
				p.Dataset, p.Access, e.Publisher, e.Status.LedgerIndex, e.Status.Witnessed)
		}
		if len(seen) == len(d.Result.Published) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the researcher lists %d of %d publications after 60s", len(seen), len(d.Result.Published))
		}
		d.research.node.Sync()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// request files the researcher's access requests; the restricted dataset's
// hospital grants it.
func (d *Demo) request(ctx context.Context) error {
	for _, h := range d.hospitals {
		name := h.published.Manifest.Name
		if _, err := d.research.node.Request(ctx, name, "pooled analysis of drug safety (cohortnet demo)"); err != nil {
			return fmt.Errorf("request %s: %w", name, err)
		}
		d.say("research-lab asked for %s (%s) in the ledger", name, h.access)
		if h.access != cohort.AccessRestricted {
			continue
		}
		if _, err := h.node.Grant(ctx, name, d.research.id, time.Now().Add(30*24*time.Hour), "demo data-use agreement"); err != nil {
			return fmt.Errorf("grant %s: %w", name, err)
		}
		d.say("%s granted research-lab access to %s for 30 days", h.short, name)
	}
	for _, h := range d.hospitals {
		h.node.Sync() // the serving nodes read the new entries now
	}
	return nil
}

// fetch has the researcher's node fetch every dataset it lists; the
// aggregate-only one is refused by its hospital.
func (d *Demo) fetch(ctx context.Context) error {
	rn := d.research.node
	for i, p := range d.Result.Published {
		t0 := time.Now()
		job, err := rn.Fetch(p.Manifest)
		if err != nil {
			return fmt.Errorf("fetch %s: %w", p.Dataset, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		job, err = rn.Wait(wctx, job.ID)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && job.State == "" {
			return fmt.Errorf("fetch %s: %w", p.Dataset, err)
		}
		if p.Access == cohort.AccessAggregateOnly {
			if job.State == node.JobDone {
				return fmt.Errorf("fetch %s: an aggregate-only dataset was served", p.Dataset)
			}
			d.Result.Denied = append(d.Result.Denied, Denied{Dataset: p.Dataset, Access: p.Access, Reason: "refused by " + p.Institution + ": aggregate-only, no rows leave"})
			d.say("%s refused research-lab's fetch of %s: %s, no rows leave (%d bytes received)", p.Institution, p.Dataset, p.Access, job.Bytes)
			continue
		}
		if job.State != node.JobDone {
			return fmt.Errorf("fetch %s: %s: %s %v", p.Dataset, job.State, job.Error, job.Dropped)
		}
		c, err := cid.Parse(p.Manifest)
		if err != nil {
			return err
		}
		problems, err := cohort.VerifyDataset(ctx, rn.Store(), c)
		if err != nil {
			return fmt.Errorf("verify %s: %w", p.Dataset, err)
		}
		if len(problems) > 0 || len(job.Problems) > 0 {
			return fmt.Errorf("verify %s: %v %v", p.Dataset, problems, job.Problems)
		}
		d.Result.Published[i].Verified = append(d.Result.Published[i].Verified, "cids")
		d.Result.Fetched = append(d.Result.Fetched, Fetched{Dataset: p.Dataset, Manifest: p.Manifest, Files: job.Files, Bytes: job.Bytes, Seconds: roundTo(time.Since(t0).Seconds(), 3)})
		d.say("research-lab fetched %s from %s: %d files, %d bytes in %.2fs, every chunk and file CID verified",
			p.Dataset, p.Institution, job.Files, job.Bytes, time.Since(t0).Seconds())
	}
	// Each served session becomes an access entry once it is idle.
	want := len(d.Result.Fetched)
	return d.waitLedger(ctx, 30*time.Second, func(es []node.EntryInfo) bool {
		n := 0
		for _, e := range es {
			if e.Kind == string(ledger.KindAccess) && e.Requester == d.research.id.String() && e.Chunks > 0 {
				n++
			}
		}
		return n >= want
	}, "the fetch sessions recorded as access entries")
}

// waitLedger polls the researcher's ledger entries until cond holds.
func (d *Demo) waitLedger(ctx context.Context, limit time.Duration, cond func([]node.EntryInfo) bool, what string) error {
	deadline := time.Now().Add(limit)
	for {
		d.research.node.Sync()
		if cond(d.research.node.Entries(0, 10000)) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not in the researcher's ledger copy after %s", what, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
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

func (d *Demo) pooledQuery(ctx context.Context) error {
	e, err := d.research.node.Engine(ctx) // the node's engine: not ours to close
	if err != nil {
		return err
	}
	checkpoint := ""
	if m := d.research.node.Mirror(); m != nil {
		checkpoint = string(m.Checkpoint())
	}
	rows, err := e.Query(ctx, pooledSQL, query.Options{Checkpoint: checkpoint})
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
	d.say("research-lab's pooled query over %d datasets:", len(q.Manifests))
	d.say("  %s", strings.Join(q.Columns, " | "))
	for _, r := range q.Rows {
		d.say("  %s", strings.Join(r, " | "))
	}
	return nil
}

// signals has the agency ask every hospital for its adverse-event counts
// over libp2p, verify the signed answers and pool them.
func (d *Demo) signals(ctx context.Context) error {
	truth, err := synth.ReadTruth(d.hospitals[0].export)
	if err != nil {
		return err
	}
	d.truth = truth
	cfg := querySignalConfig()
	answers, problems := d.agency.node.AEAnswers(ctx, cfg)
	if len(problems) > 0 {
		return fmt.Errorf("hospitals did not answer: %s", strings.Join(problems, "; "))
	}
	for _, a := range answers {
		d.say("agency got %s's signed adverse-event counts over libp2p (%d pairs, cells under %d suppressed)", a.Institution, len(a.Pairs), a.MinCell)
	}
	sig, rejected := query.PooledSignals(answers, 3, "", "")
	d.Result.SignalsBy = cfg.Source
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
	d.say("method %s: each exposed person's %d days after first exposure against their own control windows (the hospitals' datasets are expert mode, dates shifted per person, where the exposures method overstates)", cfg.Source, cfg.Window)
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

// audit reads the researcher's verified copy of the ledger: the trail of
// every publication, request, grant, fetch and release.
func (d *Demo) audit(ctx context.Context) error {
	releases := len(d.hospitals)
	if err := d.waitLedger(ctx, 30*time.Second, func(es []node.EntryInfo) bool {
		n := 0
		for _, e := range es {
			if e.Kind == string(ledger.KindRelease) {
				n++
			}
		}
		return n >= releases
	}, "the agency's releases"); err != nil {
		return err
	}
	counts := map[string]int{}
	for _, e := range d.research.node.Entries(0, 10000) {
		counts[e.Kind]++
		if e.Kind == string(ledger.KindAccess) && e.Chunks == 0 {
			counts["refused access"]++
		}
		d.Result.Audit = append(d.Result.Audit, d.auditEntry(e))
	}
	d.Result.LedgerSize = uint64(len(d.Result.Audit))
	if m := d.research.node.Mirror(); m != nil {
		d.Result.Checkpoint = string(m.Checkpoint())
	}
	var parts []string
	for _, k := range ledger.Kinds {
		if counts[string(k)] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[string(k)], k))
		}
	}
	if n := counts["refused access"]; n > 0 {
		parts = append(parts, fmt.Sprintf("of the access entries %d a refused attempt with nothing served", n))
	}
	d.say("the ledger holds %d entries (%s), every one verified by research-lab's node against the cosigned checkpoint", len(d.Result.Audit), strings.Join(parts, ", "))
	return nil
}

// querySignalConfig is how the agency asks for adverse-event counts:
// self-controlled, because the demo's hospitals publish expert-mode
// datasets, whose per-person date shifts make the exposures method
// overstate disproportionality.
func querySignalConfig() query.SignalConfig {
	return query.SignalConfig{Source: query.SourceSelfControlled, Window: synth.WindowDays}
}

// auditEntry is e as the audit trail shows it, members by short name.
func (d *Demo) auditEntry(e node.EntryInfo) AuditEntry {
	a := AuditEntry{Index: e.Index, Kind: e.Kind, Author: d.shortOfString(e.Author), Dataset: e.Dataset, Manifest: e.Manifest,
		Chunks: e.Chunks, Bytes: e.Bytes, Time: e.Time.UTC().Format(time.RFC3339)}
	switch {
	case e.Grantee != "":
		a.Subject = d.shortOfString(e.Grantee)
	case e.Requester != "":
		a.Subject = d.shortOfString(e.Requester)
	case e.Recipient != "":
		a.Subject = d.shortOfString(e.Recipient)
	case e.Purpose != "":
		a.Subject = e.Purpose
	}
	return a
}
