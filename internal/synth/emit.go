package synth

import "math"

// emit turns one planned encounter into the encounter and its records.
// firstExposure holds, per signal, the index in p.meds of the first exposure.
func (g *generator) emit(p *patient, pl *plan, lastDay int32, firstExposure []int) {
	r := g.r
	start := int64(pl.day)*secondsPerDay + int64(pl.sec)
	age := p.ageAt(pl.day)
	e := encounter{id: g.uuid(), start: start, stop: start + 900, provider: r.IntN(len(g.providers))}
	ei := len(p.encs)
	noteP := 0.0
	switch pl.kind {
	case kWellness:
		e.class = classWellness
		e.typ = encWellnessAdult
		if age < 18 {
			e.typ = encWellnessChild
		}
		e.base = 136.80
		g.vitals(p, ei, start, age, true)
		if age >= 18 && g.chance(0.6) {
			g.addObsText(p, ei, start, &obsSmoking, pick(g, smokingStatus))
		}
		if age >= 30 && g.chance(0.15) {
			for k := range obsMetabolc {
				g.addObs(p, ei, start, &obsMetabolc[k], age)
			}
		} else if age >= 35 && g.chance(0.18) {
			for k := range obsLipids {
				g.addObs(p, ei, start, &obsLipids[k], age)
			}
		}
		if age >= 12 && g.chance(0.25) {
			g.addObs(p, ei, start, &obsPHQ2, age)
		}
		if age < 18 {
			n := 1 + r.IntN(2)
			if age > 2 {
				n = r.IntN(2)
			}
			for k := 0; k < n; k++ {
				g.addImm(p, ei, start, cvxChild[min(age*len(cvxChild)/18+r.IntN(2), len(cvxChild)-1)])
			}
		} else if g.chance(0.5) {
			g.addImm(p, ei, start, cvxFlu)
		} else if age >= 65 && g.chance(0.1) {
			g.addImm(p, ei, start, pick(g, cvxSenior))
		} else if g.chance(0.05) {
			g.addImm(p, ei, start, cvxTd)
		} else if pl.day >= daysFromCivil(2021, 1, 1) && g.chance(0.15) {
			g.addImm(p, ei, start, cvxCOVID)
		}
		if g.chance(0.55) {
			g.addProc(p, ei, start, pick(g, procWellness), concept{}, 300+r.Float64()*500)
		}
		if f := pick(g, findings); age >= 18 && g.chance(0.12) && !g.planted[f.code] {
			p.conds = append(p.conds, condition{start: pl.day, stop: -1, enc: ei, concept: f})
		}
		noteP = 0.06
	case kChronicDx:
		c := &chronics[pl.arg]
		e.class = classAmbulatory
		e.typ = encProblem
		e.reason = c.concept
		e.base = 85.55
		p.conds = append(p.conds, condition{start: pl.day, stop: -1, enc: ei, concept: c.concept})
		if c.med.code != "" && !g.planted[c.med.code] {
			g.addMed(p, ei, start, c.med, c.concept, c.medCost, 12, c.yearlyRx, lastDay)
		}
		if g.chance(0.3) {
			g.addObs(p, ei, start, &obsSys, age)
			g.addObs(p, ei, start, &obsDia, age)
		}
		if c.code == "44054006" {
			g.addObs(p, ei, start, &obsA1c, age)
		}
		if g.chance(0.2) {
			g.addProc(p, ei, start, pick(g, procAcute), c.concept, 400+r.Float64()*3000)
		}
		noteP = 0.2
	case kFollowUp:
		c := &chronics[pl.arg]
		e.class = classAmbulatory
		e.typ = encFollowUp
		e.reason = c.concept
		e.base = 85.55
		if c.med.code != "" && c.yearlyRx && !g.planted[c.med.code] {
			g.addMed(p, ei, start, c.med, c.concept, c.medCost, 12, true, lastDay)
		}
		if g.chance(0.4) {
			g.addObs(p, ei, start, &obsSys, age)
			g.addObs(p, ei, start, &obsDia, age)
		}
		if c.code == "44054006" {
			g.addObs(p, ei, start, &obsA1c, age)
		}
		noteP = 0.05
	case kAcute:
		a := &g.acuteList[pl.arg]
		switch {
		case a.er && g.chance(0.12):
			e.class = classInpatient
			e.typ = encInpatient
			e.stop = start + int64(1+r.IntN(5))*secondsPerDay + int64(r.IntN(20000))
			e.base = 1200 + r.Float64()*400
			noteP = 0.9
		case a.er && g.chance(0.7):
			e.class = classEmergency
			e.typ = encER
			e.stop = start + 3600 + int64(r.IntN(4*3600))
			e.base = 146.18
			noteP = 0.5
		case g.chance(0.12):
			e.class = classUrgent
			e.typ = encUrgent
			e.base = 110.0
			noteP = 0.15
		default:
			e.class = classAmbulatory
			e.typ = encSymptom
			e.base = 77.49
			noteP = 0.12
		}
		e.reason = a.concept
		stop := pl.day + int32(max(a.days/2+r.IntN(a.days+1), 1))
		p.conds = append(p.conds, condition{start: pl.day, stop: stop, enc: ei, concept: a.concept})
		if a.med.code != "" && g.chance(0.7) && !g.planted[a.med.code] {
			g.addMed(p, ei, start, a.med, a.concept, 2+r.Float64()*30, 1, false, lastDay)
			p.meds[len(p.meds)-1].stop = int64(stop)*secondsPerDay + int64(pl.sec)
		} else if d := genDrugs[g.drugZ.pick(r.Float64())]; a.med.code == "" && g.chance(0.35) && !g.planted[d.code] {
			g.addMed(p, ei, start, d, a.concept, 1+r.Float64()*60, 1, false, lastDay)
			p.meds[len(p.meds)-1].stop = int64(stop)*secondsPerDay + int64(pl.sec)
		}
		if g.chance(0.6) {
			g.addObs(p, ei, start, &obsTemp, age)
		}
		if g.chance(0.4) {
			g.addProc(p, ei, start, pick(g, procAcute), a.concept, 200+r.Float64()*2000)
		}
		if e.class == classInpatient {
			g.addProc(p, ei, start+3600, pick(g, procAcute), a.concept, 2000+r.Float64()*20000)
			g.vitals(p, ei, start, age, false)
		}
	case kSignalExposure, kSignalRenewal:
		s := &g.signals[pl.arg]
		e.class = classAmbulatory
		e.typ = encProblem
		if pl.kind == kSignalRenewal {
			e.typ = encFollowUp
		}
		e.base = 85.55
		drug := concept{s.Drug, s.drugName}
		g.addMed(p, ei, start, drug, concept{}, 3+r.Float64()*20, 6, true, lastDay)
		if pl.kind == kSignalExposure {
			firstExposure[pl.arg] = len(p.meds) - 1
			if g.chance(0.5) {
				g.addObs(p, ei, start, &obsSys, age)
				g.addObs(p, ei, start, &obsDia, age)
			}
		}
		noteP = 0.05
	case kSignalEvent:
		s := &g.signals[pl.arg]
		ev := concept{s.Event, s.eventName}
		e.class = classAmbulatory
		e.typ = encSymptom
		e.reason = ev
		e.base = 77.49
		ci := len(p.conds)
		p.conds = append(p.conds, condition{start: pl.day, stop: pl.day + 5 + int32(r.IntN(20)), enc: ei, concept: ev})
		if pl.arg2 == 1 && firstExposure[pl.arg] >= 0 && g.chance(0.4) {
			p.aes = append(p.aes, adverseEvent{day: pl.day, enc: ei, med: firstExposure[pl.arg], cond: ci, serious: g.chance(0.15)})
		}
		noteP = 0.1
		if pl.arg2 == 1 {
			noteP = 0.3
		}
	case kDeath:
		e.class = classAmbulatory
		e.typ = encDeath
		e.base = 136.80
		cause := "Natural death with unknown cause"
		for k := len(p.conds) - 1; k >= 0; k-- {
			if p.conds[k].stop < p.conds[k].start {
				cause = p.conds[k].name
				break
			}
		}
		g.addObsText(p, ei, start, &obsDeath, cause)
		noteP = 1
	}
	e.total = round2(e.base * (1 + 3*r.Float64()))
	if p.payer != len(g.payers)-1 {
		e.payCov = round2(e.total * (0.5 + 0.5*r.Float64()))
	}
	e.base = round2(e.base)
	p.encs = append(p.encs, e)
	if g.chance(noteP) {
		g.note(p, ei, pl, age)
	}
}

func (g *generator) vitals(p *patient, enc int, t int64, age int, full bool) {
	if full {
		g.addObs(p, enc, t, &obsHeight, age)
		g.addObs(p, enc, t, &obsWeight, age)
		if age >= 2 {
			h := p.obs[len(p.obs)-2].value / 100
			w := p.obs[len(p.obs)-1].value
			p.obs = append(p.obs, observation{t: t, enc: enc, def: &obsBMI, value: math.Round(w/(h*h)*10) / 10})
		}
	}
	g.addObs(p, enc, t, &obsSys, age)
	g.addObs(p, enc, t, &obsDia, age)
	if !full || g.chance(0.5) {
		g.addObs(p, enc, t, &obsHR, age)
	}
	if !full {
		g.addObs(p, enc, t, &obsRR, age)
	}
}

// addObs adds a numeric observation with a value plausible for the age.
func (g *generator) addObs(p *patient, enc int, t int64, d *obsDef, age int) {
	v := d.lo + (d.hi-d.lo)*g.r.Float64()
	switch d {
	case &obsHeight:
		if age < 18 {
			v = 50 + float64(age)*6.2 + g.r.Float64()*12
		} else if p.gender == 'F' {
			v -= 8
		}
	case &obsWeight:
		if age < 18 {
			v = 3.5 + float64(age)*3.6 + g.r.Float64()*6
		}
	case &obsPain, &obsPHQ2:
		v = float64(g.r.IntN(int(d.hi) + 1))
	}
	p.obs = append(p.obs, observation{t: t, enc: enc, def: d, value: math.Round(v*10) / 10})
}

func (g *generator) addObsText(p *patient, enc int, t int64, d *obsDef, text string) {
	p.obs = append(p.obs, observation{t: t, enc: enc, def: d, text: text})
}

func (g *generator) addImm(p *patient, enc int, t int64, c concept) {
	p.imms = append(p.imms, immunization{t: t, enc: enc, concept: c, cost: 140.52})
}

func (g *generator) addProc(p *patient, enc int, t int64, c, reason concept, cost float64) {
	d := int64(600 + g.r.IntN(1800))
	p.procs = append(p.procs, procedure{start: t, stop: t + d, enc: enc, concept: c, reason: reason, cost: round2(cost)})
}

// addMed adds a prescription. Renewed prescriptions run a year (or to the
// last day alive, when that is sooner: then they are ongoing).
func (g *generator) addMed(p *patient, enc int, t int64, c, reason concept, cost float64, dispenses int, renewed bool, lastDay int32) {
	m := medication{start: t, enc: enc, concept: c, reason: reason, base: round2(cost), dispenses: dispenses}
	if renewed {
		stop := t + 365*secondsPerDay
		if dayOf(stop) <= lastDay {
			m.stop = stop
		}
	}
	if p.payer != len(g.payers)-1 {
		m.payCov = round2(m.base * float64(dispenses) * g.r.Float64() * 0.8)
	}
	p.meds = append(p.meds, m)
}
