package synth

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// uuid is a formatted random identifier (8-4-4-4-12 hex), as Synthea writes.
type uuid [36]byte

const hexdigits = "0123456789abcdef"

func makeUUID(hi, lo uint64) uuid {
	var u uuid
	j := 0
	for i := 0; i < 32; i++ {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			u[j] = '-'
			j++
		}
		var nib uint64
		if i < 16 {
			nib = hi >> (60 - 4*i) & 0xf
		} else {
			nib = lo >> (60 - 4*(i-16)) & 0xf
		}
		u[j] = hexdigits[nib]
		j++
	}
	return u
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return splitmix(h.Sum64())
}

// Encounter classes as Synthea's ENCOUNTERCLASS writes them.
const (
	classWellness   = "wellness"
	classAmbulatory = "ambulatory"
	classOutpatient = "outpatient"
	classEmergency  = "emergency"
	classInpatient  = "inpatient"
	classUrgent     = "urgentcare"
)

type encounter struct {
	id                  uuid
	start, stop         int64
	class               string
	typ                 concept
	reason              concept
	provider            int
	base, total, payCov float64
}

type condition struct {
	start, stop int32 // stop < start: none
	enc         int
	concept
}

type medication struct {
	start, stop int64 // stop == 0: ongoing
	enc         int
	concept
	reason    concept
	base      float64
	payCov    float64
	dispenses int
}

type immunization struct {
	t   int64
	enc int
	concept
	cost float64
}

type observation struct {
	t     int64
	enc   int
	def   *obsDef
	value float64
	text  string // for text observations
}

type procedure struct {
	start, stop int64
	enc         int
	concept
	reason concept
	cost   float64
}

// adverseEvent is a recorded adverse event: a planted signal event that the
// clinician attributed to the drug (FHIR AdverseEvent).
type adverseEvent struct {
	day     int32
	enc     int
	med     int // index into meds: the first exposure
	cond    int // index into conds
	serious bool
}

// patient is one generated person with every record, reused between
// patients so generation allocates little.
type patient struct {
	index                               int
	id                                  uuid
	birth, death                        int32 // death < 0: alive at the end
	gender                              byte  // 'F' or 'M'
	first, last, maiden, prefix, suffix string
	marital, race, ethnicity            string
	birthplace, address, unit           string
	home                                *place
	zip                                 string
	lat, lon                            float64
	ssn, drivers, passport, mrn, phone  string
	email                               string
	expenses, coverage                  float64
	payer                               int
	relative, relation                  string
	encs                                []encounter
	conds                               []condition
	meds                                []medication
	imms                                []immunization
	obs                                 []observation
	procs                               []procedure
	aes                                 []adverseEvent
	notes                               []note
}

func newPatient() *patient { return &patient{} }

func (p *patient) reset() {
	encs, conds, meds, imms, obs, procs, aes, notes := p.encs[:0], p.conds[:0], p.meds[:0], p.imms[:0], p.obs[:0], p.procs[:0], p.aes[:0], p.notes[:0]
	*p = patient{encs: encs, conds: conds, meds: meds, imms: imms, obs: obs, procs: procs, aes: aes, notes: notes}
}

// addressLine is the street address with its unit, if any.
func (p *patient) addressLine() string {
	if p.unit == "" {
		return p.address
	}
	return p.address + " " + p.unit
}

// ageAt is the age in whole years on day d.
func (p *patient) ageAt(d int32) int {
	by, bm, bd := civil(p.birth)
	y, m, dd := civil(d)
	a := y - by
	if m < bm || (m == bm && dd < bd) {
		a--
	}
	return a
}

// plan kinds: what happens at a planned encounter.
const (
	kWellness = iota
	kChronicDx
	kFollowUp
	kAcute
	kSignalExposure
	kSignalRenewal
	kSignalEvent
	kDeath
)

type plan struct {
	day  int32
	sec  int32
	kind uint8
	arg  int32
	arg2 int32
	seq  int32
}

// sigPlan is a planted signal with the rates that realise it.
type sigPlan struct {
	Signal
	drugName, eventName string
	upStart, upEnd      int32   // first exposures fall in this period
	hiStart, hiEnd      int32   // the event's background hazard is higher here
	hHi, hLo            float64 // background hazard per day
	pExpose             float64 // chance an eligible adult is exposed
	pEvent              float64 // chance of the event in the window after exposure
}

// generator holds what is shared by all patients of one export.
type generator struct {
	cfg        Config
	inst       uint64
	start, end int32
	src        rand.PCG
	r          *rand.Rand

	orgs      []uuid
	orgNames  []string
	providers []uuid
	provNames []string
	provOrg   []int
	payers    []uuid

	placeZ      zipf
	placeList   []*place
	raceZ       zipf
	hispanic    float64
	ageBands    zipf
	chronicZ    zipf
	acuteZ      zipf
	acuteList   []acute
	drugZ       zipf
	planted     map[string]bool // signal drug and event codes: only signals write them
	signals     []sigPlan
	plans       []plan
	wellnessAdj float64
}

var payerNames = []string{"Medicare", "Medicaid", "Blue Cross Blue Shield", "UnitedHealthcare", "Aetna", "Cigna Health", "Humana", "Anthem", "Kaiser Permanente", "NO_INSURANCE"}

func newGenerator(cfg Config) *generator {
	g := &generator{cfg: cfg}
	g.inst = hashString("institution:" + cfg.Institution)
	g.r = rand.New(&g.src)
	g.start = daysFromCivil(cfg.StartYear, 1, 1)
	g.end = daysFromCivil(cfg.EndYear, 12, 31)

	// The institution's own fixed parts: organizations, clinicians, mix.
	g.src.Seed(g.inst, 0x1457)
	r := g.r
	norg := 1 + r.IntN(3)
	instName := cfg.Institution
	if instName == "" {
		instName = "General Hospital"
	}
	for i := 0; i < norg; i++ {
		g.orgs = append(g.orgs, makeUUID(r.Uint64(), r.Uint64()))
		name := instName
		if i > 0 {
			name = instName + " " + [...]string{"Outpatient Clinic", "Urgent Care", "Family Practice"}[i-1]
		}
		g.orgNames = append(g.orgNames, name)
	}
	for i := 0; i < 120; i++ {
		g.providers = append(g.providers, makeUUID(r.Uint64(), r.Uint64()))
		var first string
		if r.IntN(2) == 0 {
			first = firstFemale[r.IntN(len(firstFemale))]
		} else {
			first = firstMale[r.IntN(len(firstMale))]
		}
		g.provNames = append(g.provNames, first+" "+lastNames[r.IntN(len(lastNames))])
		g.provOrg = append(g.provOrg, r.IntN(norg))
	}
	// Payers are national: the same ids at every institution.
	var ps rand.PCG
	ps.Seed(0x9a7e5, 0x1d5)
	pr := rand.New(&ps)
	for range payerNames {
		g.payers = append(g.payers, makeUUID(pr.Uint64(), pr.Uint64()))
	}

	// Geography: a home state where most patients live, some from elsewhere,
	// a few in restricted ZIP3 areas.
	home := places[r.IntN(len(places))].abbr
	var pw []float64
	for i := range places {
		w := 1.0
		if places[i].abbr == home {
			w = 60
		}
		g.placeList = append(g.placeList, &places[i])
		pw = append(pw, w*(0.5+r.Float64()))
	}
	total := 0.0
	for _, w := range pw {
		total += w
	}
	for i := range restrictedPlaces {
		g.placeList = append(g.placeList, &restrictedPlaces[i])
		pw = append(pw, total*0.035/float64(len(restrictedPlaces))*(0.5+r.Float64()))
	}
	g.placeZ = newWeighted(pw)

	rw := []float64{62, 13, 7, 1.2, 0.6, 5}
	for i := range rw {
		rw[i] *= 0.5 + r.Float64()
	}
	g.raceZ = newWeighted(rw)
	g.hispanic = 0.06 + 0.2*r.Float64()
	// Age bands at the end of the window: 0-17, 18-44, 45-64, 65-89, 90-105.
	bw := []float64{20, 33, 27, 17, 3}
	tilt := r.Float64()*0.8 - 0.4 // pediatric-leaning to geriatric-leaning
	bw[0] *= 1 - tilt
	bw[3] *= 1 + tilt
	bw[4] *= 1 + tilt
	g.ageBands = newWeighted(bw)
	g.wellnessAdj = 0.8 + 0.4*r.Float64()

	// Skewed code frequencies, with the institution's own ranking of the
	// less common codes: hospitals share code systems, not frequencies.
	cw := make([]float64, len(chronics))
	for i := range chronics {
		cw[i] = chronics[i].weight * (0.6 + 0.8*r.Float64())
	}
	g.chronicZ = newWeighted(cw)

	sig := map[string]bool{}
	for _, s := range cfg.Signals {
		sig[s.Event] = true
		sig[s.Drug] = true
	}
	g.planted = sig
	for _, a := range acutes {
		if !sig[a.code] && a.weight > 0 {
			g.acuteList = append(g.acuteList, a)
		}
	}
	gen := make([]acute, 0, len(genConditions))
	for _, c := range genConditions {
		if !sig[c.code] {
			gen = append(gen, acute{concept: c, days: 7 + int(c.code[1]-'0')*7})
		}
	}
	// shuffle the generated tail per institution, then weight by Zipf rank
	r.Shuffle(len(gen), func(i, j int) { gen[i], gen[j] = gen[j], gen[i] })
	aw := make([]float64, 0, len(g.acuteList)+len(gen))
	for _, a := range g.acuteList {
		aw = append(aw, a.weight*(0.6+0.8*r.Float64()))
	}
	gz := zipfWeights(len(gen), 1.05)
	for i := range gen {
		aw = append(aw, 12*gz[i])
	}
	g.acuteList = append(g.acuteList, gen...)
	g.acuteZ = newWeighted(aw)
	g.drugZ = newWeighted(zipfWeights(len(genDrugs), 1.1))

	g.planSignals()
	return g
}

// lifespan is a sampled person's birth and death day, for calibration.
type lifespan struct{ birth, death int32 }

func (g *generator) planSignals() {
	span := g.end - g.start
	for k, s := range g.cfg.Signals {
		sp := sigPlan{Signal: s}
		sp.drugName = drugName(s.Drug)
		sp.eventName = conditionName(s.Event)
		// First exposures fall in a two-year uptake period (a drug that
		// became common then); the event's background is highest around it.
		const upLen = 365
		if span <= upLen+2*WindowDays {
			sp.upStart, sp.upEnd = g.start, g.end-WindowDays-1
		} else {
			room := span - upLen - WindowDays - 1
			// late in the window, when most of the population is born
			off := int32((0.45 + math.Mod(0.19*float64(k), 0.5)) * float64(room))
			sp.upStart = g.start + off
			sp.upEnd = sp.upStart + upLen
		}
		sp.hiStart, sp.hiEnd = sp.upStart, sp.upEnd+WindowDays+1
		p0 := 0.05
		if s.RR*p0 > 0.6 {
			p0 = 0.6 / s.RR
		}
		// p0 is the chance of one or more events in a window of WindowDays+1 days.
		sp.hHi = -math.Log(1-p0) / float64(WindowDays+1)
		sp.hLo = sp.hHi / 40
		sp.pExpose = 0.3
		g.signals = append(g.signals, sp)
	}
	if len(g.signals) == 0 {
		return
	}
	const sample = 20000
	g.src.Seed(g.inst^0xa11e, splitmix(uint64(g.cfg.Seed)^0x5a3e))
	lives := make([]lifespan, sample)
	var p patient
	for i := range lives {
		g.demographics(&p)
		lives[i] = lifespan{p.birth, p.death}
	}
	for i := range g.signals {
		s := &g.signals[i]
		s.pEvent = min(s.RR*(1-math.Exp(-s.hHi*float64(WindowDays+1)))*g.aliveShare(s, lives), 0.95)
	}
}

// aliveShare estimates, from a sample of this population, the share of
// unexposed persons who are alive through a risk window starting on a day of
// the uptake period. Persons not yet born or already dead at the index the
// exposure-based comparison samples for them cannot have the event, which
// dilutes the unexposed risk by this share; the exposed risk is scaled by it
// so that the comparison observes the planted relative risk.
func (g *generator) aliveShare(s *sigPlan, lives []lifespan) float64 {
	sum, weight := 0.0, 0.0
	for _, p := range lives {
		a0, a1 := max(g.start, p.birth), g.end
		if p.death >= 0 {
			a1 = p.death
		}
		w := 1.0
		if max(a0, s.upStart, p.birth+18*365+5) <= min(a1-WindowDays-1, s.upEnd) {
			w = 1 - s.pExpose
		}
		lo, hi := max(a0, s.upStart), min(a1-WindowDays, s.upEnd)
		frac := 0.0
		if hi >= lo {
			frac = float64(hi-lo+1) / float64(s.upEnd-s.upStart+1)
		}
		sum += w * frac
		weight += w
	}
	return sum / weight
}

func (g *generator) truth() Truth {
	t := Truth{
		Seed: g.cfg.Seed, Patients: g.cfg.Patients, Institution: g.cfg.Institution,
		Format: g.cfg.Format, StartYear: g.cfg.StartYear, EndYear: g.cfg.EndYear,
		Signals: []TruthSignal{},
	}
	for _, s := range g.signals {
		t.Signals = append(t.Signals, TruthSignal{
			Drug: s.Drug, DrugName: s.drugName, Event: s.Event, EventName: s.eventName,
			RR: s.RR, WindowDays: WindowDays,
		})
	}
	return t
}

func (g *generator) uuid() uuid { return makeUUID(g.r.Uint64(), g.r.Uint64()) }

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func (g *generator) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		n := int(math.Round(lambda + math.Sqrt(lambda)*g.r.NormFloat64()))
		return max(n, 0)
	}
	l := math.Exp(-lambda)
	k, p := 0, 1.0
	for {
		p *= g.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (g *generator) dayIn(a, b int32) int32 {
	if b <= a {
		return a
	}
	return a + int32(g.r.IntN(int(b-a)+1))
}

func pick[T any](g *generator, s []T) T { return s[g.r.IntN(len(s))] }

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// patient generates patient number i into p.
func (g *generator) patient(p *patient, i int) {
	p.reset()
	p.index = i
	g.src.Seed(g.inst^splitmix(uint64(g.cfg.Seed)), splitmix(uint64(i)+0x51a7e))
	r := g.r
	p.id = g.uuid()
	g.demographics(p)

	a0, a1 := max(g.start, p.birth), g.end
	if p.death >= 0 {
		a1 = p.death
	}
	g.plans = g.plans[:0]
	add := func(day int32, kind uint8, arg, arg2 int32) {
		g.plans = append(g.plans, plan{day: day, sec: int32(6*3600 + r.IntN(14*3600)), kind: kind, arg: arg, arg2: arg2, seq: int32(len(g.plans))})
	}

	// Wellness visits: yearly for children and the old, less often between.
	for y := g.cfg.StartYear; y <= g.cfg.EndYear; y++ {
		d := g.dayIn(daysFromCivil(y, 1, 1), daysFromCivil(y, 12, 31))
		if d < a0 || d > a1 {
			continue
		}
		age := p.ageAt(d)
		prob := 0.12
		switch {
		case age < 18:
			prob = 0.3
		case age >= 65:
			prob = 0.25
		}
		if g.chance(prob * g.wellnessAdj) {
			add(d, kWellness, 0, 0)
		}
	}
	ageEnd := p.ageAt(a1)
	// Chronic conditions, more with age.
	nchronic := g.poisson(0.15 + float64(ageEnd)/40)
	var have [64]bool
	for k := 0; k < nchronic; k++ {
		ci := g.chronicZ.pick(r.Float64())
		c := &chronics[ci]
		if have[ci] || ageEnd < c.minAge || (c.sex != 0 && c.sex != p.gender) || g.planted[c.code] {
			continue
		}
		have[ci] = true
		lo := max(a0, p.birth+int32(c.minAge*365))
		if lo > a1 {
			continue
		}
		dx := g.dayIn(lo, a1)
		add(dx, kChronicDx, int32(ci), 0)
		for f := dx + 400 + int32(r.IntN(300)); f <= a1 && f-dx < 3*365; f += 400 + int32(r.IntN(300)) {
			add(f, kFollowUp, int32(ci), 0)
		}
	}
	// Acute problems.
	years := float64(a1-a0+1) / 365.25
	nacute := g.poisson(years * (0.15 + float64(ageEnd)/400))
	for k := 0; k < nacute; k++ {
		add(g.dayIn(a0, a1), kAcute, int32(g.acuteZ.pick(r.Float64())), 0)
	}
	// Planted signals.
	for si := range g.signals {
		g.planSignal(p, int32(si), a0, a1, add)
	}
	if p.death >= 0 {
		add(p.death, kDeath, 0, 0)
	}
	slices.SortFunc(g.plans, func(a, b plan) int {
		if a.day != b.day {
			return int(a.day - b.day)
		}
		if a.kind == kDeath || b.kind == kDeath {
			return int(a.kind) - int(b.kind) // death certification is the last
		}
		return int(a.seq - b.seq)
	})
	var firstExposure [16]int
	for k := range firstExposure {
		firstExposure[k] = -1
	}
	for pi := range g.plans {
		g.emit(p, &g.plans[pi], a1, firstExposure[:])
	}
	p.expenses = round2(float64(len(p.encs))*(900+r.Float64()*5000) + r.Float64()*40000)
	p.coverage = round2(p.expenses * r.Float64() * 0.6)
}

func (g *generator) planSignal(p *patient, si int32, a0, a1 int32, add func(int32, uint8, int32, int32)) {
	s := &g.signals[si]
	r := g.r
	lo := max(a0, s.upStart, p.birth+18*365+5)
	hi := min(a1-WindowDays-1, s.upEnd)
	idx := int32(-1)
	if lo <= hi && g.chance(s.pExpose) {
		idx = g.dayIn(lo, hi)
		add(idx, kSignalExposure, si, 0)
		for k, d := 0, idx+150+int32(r.IntN(60)); k < 2 && d <= a1; k, d = k+1, d+150+int32(r.IntN(60)) {
			add(d, kSignalRenewal, si, 0)
		}
		if g.chance(s.pEvent) {
			add(idx+1+int32(r.IntN(WindowDays-1)), kSignalEvent, si, 1)
		}
	}
	// Background: a Poisson process, denser around the uptake period;
	// events that would fall in the exposed window are thinned away so that
	// window carries exactly the planted risk.
	segment := func(from, to int32, h float64) {
		if to < from {
			return
		}
		n := g.poisson(h * float64(to-from+1))
		for k := 0; k < n; k++ {
			d := g.dayIn(from, to)
			if idx >= 0 && d >= idx && d <= idx+WindowDays {
				continue
			}
			add(d, kSignalEvent, si, 0)
		}
	}
	segment(a0, min(a1, s.hiStart-1), s.hLo)
	segment(max(a0, s.hiStart), min(a1, s.hiEnd), s.hHi)
	segment(max(a0, s.hiEnd+1), a1, s.hLo)
}

func (g *generator) demographics(p *patient) {
	r := g.r
	if r.IntN(100) < 51 {
		p.gender = 'F'
	} else {
		p.gender = 'M'
	}
	var age float64
	switch g.ageBands.pick(r.Float64()) {
	case 0:
		age = r.Float64() * 18
	case 1:
		age = 18 + r.Float64()*27
	case 2:
		age = 45 + r.Float64()*20
	case 3:
		age = 65 + r.Float64()*25
	default:
		age = 90 + r.Float64()*15.9
	}
	p.birth = g.end - int32(age*365.25)
	// Deaths: a Gompertz-like yearly hazard while in the window.
	p.death = -1
	for y := g.cfg.StartYear; y <= g.cfg.EndYear; y++ {
		ya := float64(y-g.cfg.StartYear) - float64(g.cfg.EndYear-g.cfg.StartYear) + age
		if ya < 0 {
			continue
		}
		q := 0.0004 * math.Exp(0.082*(ya-30))
		if ya < 1 {
			q = 0.004
		}
		if r.Float64() < min(q, 0.5) {
			d := g.dayIn(max(daysFromCivil(y, 1, 1), p.birth+1), daysFromCivil(y, 12, 31))
			p.death = d
			break
		}
	}
	p.race = races[g.raceZ.pick(r.Float64())]
	p.ethnicity = "nonhispanic"
	if r.Float64() < g.hispanic {
		p.ethnicity = "hispanic"
	}
	if p.gender == 'F' {
		p.first = pick(g, firstFemale)
	} else {
		p.first = pick(g, firstMale)
	}
	switch {
	case p.ethnicity == "hispanic":
		p.last = pick(g, lastHispanic)
	case p.race == "asian":
		p.last = pick(g, lastAsian)
	default:
		p.last = pick(g, lastNames)
	}
	ageNow := p.ageAt(g.end)
	if p.death >= 0 {
		ageNow = p.ageAt(p.death)
	}
	if ageNow >= 18 {
		switch {
		case r.IntN(100) < 55:
			p.marital = "M"
		case r.IntN(100) < 60:
			p.marital = "S"
		case r.IntN(2) == 0:
			p.marital = "D"
		default:
			p.marital = "W"
		}
		p.prefix = prefixes[0]
		if p.gender == 'F' {
			p.prefix = prefixes[2]
			if p.marital == "M" || p.marital == "W" {
				p.prefix = prefixes[1]
				p.maiden = p.last
				p.last = pick(g, lastNames)
			}
		}
		if r.IntN(100) < 2 {
			p.suffix = [...]string{"Jr.", "Sr.", "III", "PhD", "MD"}[r.IntN(5)]
		}
		p.drivers = "S999" + digits(r, 5)
		if r.IntN(100) < 70 {
			p.passport = "X" + digits(r, 8) + "X"
		}
	}
	p.ssn = "999-" + digits(r, 2) + "-" + digits(r, 4)
	p.mrn = strconv.Itoa(10000000 + r.IntN(89999999))
	p.phone = "555-" + digits(r, 3) + "-" + digits(r, 4)
	p.email = lowerASCII(p.first) + "." + lowerASCII(p.last) + strconv.Itoa(r.IntN(100)) + "@" + pick(g, emailDoms)

	pl := g.placeList[g.placeZ.pick(r.Float64())]
	p.home = pl
	p.address = strconv.Itoa(1+r.IntN(1100)) + " " + pick(g, streetNames) + " " + pick(g, streetSuffixes)
	if r.IntN(100) < 35 {
		p.unit = pick(g, unitKinds) + " " + strconv.Itoa(1+r.IntN(99))
	}
	if r.IntN(100) < 6 {
		p.zip = "" // Synthea leaves some ZIPs empty
	} else {
		n, _ := strconv.Atoi(pl.zip)
		p.zip = pad5(n/100*100 + (n%100+r.IntN(8))%100)
	}
	// float64(...) rounds the product, so no platform fuses it into an FMA
	// and the printed coordinates are the same everywhere.
	p.lat = pl.lat + float64((r.Float64()-0.5)*0.08)
	p.lon = pl.lon + float64((r.Float64()-0.5)*0.08)
	if r.IntN(100) < 8 {
		p.birthplace = pick(g, foreignBirthplaces)
	} else {
		bp := g.placeList[g.placeZ.pick(r.Float64())]
		p.birthplace = bp.city + ", " + bp.state + ", US"
	}
	p.payer = r.IntN(len(g.payers))
	if ageNow >= 65 {
		p.payer = 0
	}
	// A relative who appears in notes.
	rel := r.IntN(4)
	switch {
	case ageNow < 18:
		p.relation = [...]string{"mother", "father"}[rel%2]
	case p.marital == "M":
		p.relation = [...]string{"wife", "husband"}[boolInt(p.gender == 'F')]
	default:
		p.relation = [...]string{"daughter", "son", "sister", "brother"}[rel]
	}
	fn := firstMale
	switch p.relation {
	case "mother", "wife", "daughter", "sister":
		fn = firstFemale
	}
	p.relative = pick(g, fn) + " " + p.last
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func digits(r *rand.Rand, n int) string {
	var b [12]byte
	for i := 0; i < n; i++ {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b[:n])
}

func pad5(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 5 {
		s = "0" + s
	}
	return s
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
		if c == ' ' || c == '\'' {
			b[i] = '.'
		}
	}
	return string(b)
}
