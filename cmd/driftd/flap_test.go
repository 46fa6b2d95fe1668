package main

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/driftd/driftd/detector"
)

// demoRun is one pass of the demo's scenario through a monitor, at the
// demo's default rate (2000 events a second) and configuration (window
// 1000, hop 125, default policy), without Kafka.
type demoRun struct {
	alerts []demoAlert
	// phaseStart[i] is the index of the first event of phase i.
	phaseStart []int
}

type demoAlert struct {
	key    string // feature/test
	status detector.Status
	event  int // event index that produced it
	phase  int
}

func runDemoScenario(t testing.TB, ref *detector.Reference, policy detector.Policy, seed uint64) demoRun {
	ps, err := detector.NewPolicies(policy)
	if err != nil {
		t.Fatal(err)
	}
	m, err := detector.NewMonitor(ref, ps, detector.DefaultWindow())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	var run demoRun
	var out detector.Output
	names := [][]byte{[]byte("tenure_days"), []byte("monthly_charges"), []byte("plan")}
	pred := []byte("prediction")
	ms := int64(1_700_000_000_000)
	idx := 0
	for pi, ph := range demoPhases(1) {
		run.phaseStart = append(run.phaseStart, idx)
		n := int(ph.seconds * 2000)
		for i := range n {
			e := stableEvent(rng)
			ph.event(&e, float64(i)/float64(n), rng)
			e.predict()
			idx++
			ms++
			if m.Begin(detector.GroupFeatures, ms, int64(idx), &out) {
				m.Value(0, names[0], detector.Value{Kind: detector.Number, Num: round(e.tenure, 2), Parsed: true})
				m.Value(1, names[1], detector.Value{Kind: detector.Number, Num: round(e.charges, 2), Parsed: true})
				if e.planMissing {
					m.Value(2, names[2], detector.Value{Kind: detector.Null})
				} else {
					m.Value(2, names[2], detector.Value{Kind: detector.String, Text: []byte(e.plan)})
				}
				m.End(&out)
			}
			if m.Begin(detector.GroupPrediction, ms, int64(idx), &out) {
				m.Value(0, pred, detector.Value{Kind: detector.Number, Num: round(e.score, 4), Parsed: true})
				m.End(&out)
			}
			for _, a := range out.Alerts {
				if a.Update > 0 {
					continue
				}
				run.alerts = append(run.alerts, demoAlert{key: a.Feature + "/" + string(a.Test), status: a.Status, event: idx, phase: pi})
			}
			out.Reset()
		}
	}
	return run
}

// flaps returns the re-firings within a phase: an alert that resolved and
// fired again in the same phase, described for the failure message.
func (r demoRun) flaps() []string {
	var out []string
	lastResolved := map[string]demoAlert{}
	for _, a := range r.alerts {
		switch a.status {
		case detector.Resolved:
			lastResolved[a.key] = a
		case detector.Firing:
			if res, ok := lastResolved[a.key]; ok && res.phase == a.phase {
				out = append(out, fmt.Sprintf("%s in phase %d: resolved at event %d, fired again at %d", a.key, a.phase+1, res.event, a.event))
			}
		}
	}
	return out
}

// TestDemoNoFlapping runs the demo's scenario (stable, skew, fix, gradual
// shift, null spike) through the detector 20 times with different seeds
// and requires that no alert re-fires within a phase: once an alert fires
// in the gradual shift it stays firing until the phase ends. It also
// checks the scenario still works: the skew and the gradual shift are
// detected, and nothing fires in the stable phase.
func TestDemoNoFlapping(t *testing.T) {
	ref, err := demoReference(50000)
	if err != nil {
		t.Fatal(err)
	}
	runs := 20
	if testing.Short() {
		runs = 5
	}
	total := 0
	for seed := range uint64(runs) {
		run := runDemoScenario(t, ref, detector.DefaultPolicy(), seed+1)
		fl := run.flaps()
		total += len(fl)
		for _, f := range fl {
			t.Errorf("seed %d: %s", seed+1, f)
		}
		fired := map[int]bool{}
		for _, a := range run.alerts {
			if a.status == detector.Firing {
				fired[a.phase] = true
			}
		}
		if fired[0] || !fired[1] || !fired[3] {
			t.Errorf("seed %d: phases with a firing alert %v (want skew 2 and gradual 4, not stable 1)", seed+1, fired)
		}
	}
	t.Logf("%d runs, %d re-firings within a phase", runs, total)
}
