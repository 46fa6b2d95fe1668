package perf

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/driftd/driftd/detector"
)

// model draws one prediction of a calibrated scorer and its label: the
// score is sigmoid(a + b·x) for a latent x ~ N(0, 1), the label is drawn
// with probability sigmoid(a + b·(ρx + √(1−ρ²)·e)): ρ = 1 is the model as
// validated, ρ < 1 a model whose signal has decayed (the score no longer
// tells the classes apart as well), while the score distribution — the
// only thing a drift test sees — is unchanged.
func model(rng *rand.Rand, a, b, rho float64) Pair {
	x := rng.NormFloat64()
	s := 1 / (1 + math.Exp(-(a + b*x)))
	z := rho*x + math.Sqrt(1-rho*rho)*rng.NormFloat64()
	return Pair{Score: s, Positive: rng.Float64() < 1/(1+math.Exp(-(a+b*z)))}
}

func testReference(t testing.TB, rng *rand.Rand, a, b float64, threshold float64) *detector.Reference {
	pairs := make([]Pair, 50000)
	for i := range pairs {
		pairs[i] = model(rng, a, b, 1)
	}
	pr, err := BuildReference(pairs, threshold, "prediction", "label")
	if err != nil {
		t.Fatal(err)
	}
	return &detector.Reference{Schema: detector.ReferenceSchema, ID: "sha256:test", Model: "churn", Version: "3", Performance: pr}
}

func newTestMonitor(t testing.TB, ref *detector.Reference, p detector.Policy) *Monitor {
	m, err := NewMonitor(ref, p, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPerformanceNoDegradation: 2,000,000 joined pairs from the validated
// model (a 10% positive class), production policy: the ERT of 10^7 allows
// 0.2 false alarms, more than one fails at the 2% level. With the
// threshold alone (ERT 2·10^4, gates and hysteresis off, 10^6 pairs) the
// union bound allows 50 drifting results over the 6 tests; the count must
// stay under 1.5× that and, not to be vacuous, above a twentieth.
func TestPerformanceNoDegradation(t *testing.T) {
	if testing.Short() {
		t.Skip("3M-pair simulation")
	}
	rng := rand.New(rand.NewPCG(61, 61))
	ref := testReference(t, rng, -2.8, 1.5, 0.2)
	m := newTestMonitor(t, ref, detector.DefaultPolicy())
	var alerts []detector.Alert
	for range 2_000_000 {
		m.Add(model(rng, -2.8, 1.5, 1), &alerts)
	}
	if len(alerts) > 1 {
		t.Fatalf("%d false alarms, first %s", len(alerts), alerts[0].Summary)
	}
	p := detector.DefaultPolicy()
	p.ERT, p.Hysteresis, p.ImmediateFactor = 2e4, 1, -1
	m = newTestMonitor(t, ref, p)
	m.cfg.AUCMinDrop, m.cfg.LossMinIncrease, m.cfg.RateMinDrop, m.cfg.PositiveRateMinChange = 0, 0, 0, 0
	drifting := map[detector.Test]int{}
	total := 0
	for range 1_000_000 {
		if ev := m.Add(model(rng, -2.8, 1.5, 1), &alerts); ev != nil {
			for _, r := range ev.Results {
				if r.Drifting {
					drifting[r.Test]++
					total++
				}
			}
		}
	}
	bound := 1e6 / p.ERT
	t.Logf("threshold only: %d drifting results %v, union bound %.0f; reference %+v", total, drifting, bound, *ref.Performance)
	if float64(total) > 1.5*bound || float64(total) < bound/20 {
		t.Fatalf("%d drifting results, want within [%.1f, %.0f]", total, bound/20, 1.5*bound)
	}
}

// TestPerformanceDegradation: after 20,000 pairs the model's signal
// decays (ρ = 0.5: the score's correlation with the label's latent halves)
// while the score distribution stays the same. ROC-AUC falls from about
// 0.83 to 0.67, so roc_auc must fire and name the metric, within two
// windows (2000 pairs) of the change; the scores alone show nothing.
func TestPerformanceDegradation(t *testing.T) {
	rng := rand.New(rand.NewPCG(62, 62))
	ref := testReference(t, rng, -2.8, 1.5, 0.2)
	m := newTestMonitor(t, ref, detector.DefaultPolicy())
	var alerts []detector.Alert
	const change = 20000
	for i := range change + 4000 {
		rho := 1.0
		if i >= change {
			rho = 0.5
		}
		m.Add(model(rng, -2.8, 1.5, rho), &alerts)
	}
	first := map[detector.Test]detector.Alert{}
	for _, a := range alerts {
		if a.Status != detector.Firing {
			continue
		}
		if a.Window.LastSeq <= change {
			t.Errorf("alert before the change: %s", a.Summary)
		}
		if _, ok := first[a.Test]; !ok {
			first[a.Test] = a
		}
	}
	auc, ok := first[TestROCAUC]
	if !ok {
		t.Fatalf("roc_auc did not fire; alerts %v", alerts)
	}
	t.Logf("roc_auc fired %d pairs after the change: %s", auc.Window.LastSeq-change, auc.Summary)
	if auc.Feature != Feature || auc.Window.LastSeq-change > 2000 {
		t.Fatalf("roc_auc alert %+v: want feature %q within 2000 pairs", auc, Feature)
	}
}

// TestJoiner: labels join their prediction within the horizon; late
// labels and labels without a prediction are orphans; predictions past
// the horizon expire; the pending state never exceeds its cap (the oldest
// is evicted and counted); a repeated request ID keeps the first score.
func TestJoiner(t *testing.T) {
	j, err := NewJoiner(JoinConfig{Horizon: time.Minute, MaxPending: 3})
	if err != nil {
		t.Fatal(err)
	}
	m, v := []byte("churn"), []byte("3")
	id := func(s string) []byte { return []byte(s) }
	j.Prediction(m, v, id("a"), 0.9, 1000)
	j.Prediction(m, v, id("a"), 0.1, 1001) // duplicate: the first score stays
	if p, ok := j.Label(m, v, id("a"), 1, 6000); !ok || p.Score != 0.9 || !p.Positive {
		t.Fatalf("join a: %+v %v", p, ok)
	}
	if _, ok := j.Label(m, v, id("a"), 1, 6001); ok {
		t.Fatal("a label joined twice")
	}
	if _, ok := j.Label([]byte("other"), v, id("b"), 1, 6002); ok {
		t.Fatal("a label of another model joined")
	}
	for i, r := range []string{"b", "c", "d", "e"} { // the cap is 3: b is evicted by e
		j.Prediction(m, v, id(r), 0.5, int64(7000+i))
	}
	if _, ok := j.Label(m, v, id("b"), 0, 8000); ok {
		t.Fatal("evicted prediction b joined")
	}
	j.Prediction(m, v, id("f"), 0.2, 70_000) // moves the watermark: c, d, e (≤ 10 s) expire
	st := j.Stats()
	if st.Predictions != 7 || st.Joined != 1 || st.Duplicates != 1 || st.Evicted != 1 || st.Orphans != 3 || st.DelayMaxMS != 5000 {
		t.Fatalf("stats %+v", st)
	}
	if st.Expired != 3 || st.Pending != 1 {
		t.Fatalf("after the watermark passed 70 s: %d expired, %d pending; want 3 (c, d, e) and 1 (f)", st.Expired, st.Pending)
	}
	if got := st.Coverage(); math.Abs(got-1.0/5) > 1e-12 {
		t.Fatalf("coverage %v, want 1/5 (1 joined, 3 expired, 1 evicted)", got)
	}
}

// TestJoinerBoundedUnderLoad: a stream where only every tenth prediction
// is labelled keeps the pending state and the queue bounded.
func TestJoinerBoundedUnderLoad(t *testing.T) {
	j, err := NewJoiner(JoinConfig{Horizon: time.Second, MaxPending: 5000})
	if err != nil {
		t.Fatal(err)
	}
	m, v := []byte("m"), []byte("1")
	var id []byte
	for i := range 1_000_000 {
		id = append(id[:0], byte(i), byte(i>>8), byte(i>>16), byte(i>>24))
		j.Prediction(m, v, id, 0.5, int64(i)) // 1 ms apart: 1000 wait at any time
		if i%10 == 0 {
			j.Label(m, v, id, 1, int64(i))
		}
		if len(j.pending) > 5000 || len(j.queue) > 4*5000+4096+1024 {
			t.Fatalf("at %d: %d pending, queue %d", i, len(j.pending), len(j.queue))
		}
	}
	st := j.Stats()
	if st.Joined != 100_000 || st.Pending > 1001 || st.Evicted != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkJoin is one prediction and, 1000 predictions later, its label:
// the per-event cost of the join (map insert and delete, the arrival
// queue), plus the pair's addition to a performance window with its
// evaluation every 125 pairs amortised ("join+window").
func BenchmarkJoin(b *testing.B) {
	ids := make([][]byte, 4096)
	for i := range ids {
		ids[i] = []byte("req-" + strconv.Itoa(i))
	}
	m, v := []byte("churn"), []byte("3")
	for _, withWindow := range []bool{false, true} {
		name := "join"
		if withWindow {
			name = "join+window"
		}
		b.Run(name, func(b *testing.B) {
			j, _ := NewJoiner(DefaultJoinConfig())
			rng := rand.New(rand.NewPCG(63, 63))
			ref := testReference(b, rng, -2.8, 1.5, 0.2)
			mon := newTestMonitor(b, ref, detector.DefaultPolicy())
			var alerts []detector.Alert
			for i := range 1000 {
				j.Prediction(m, v, ids[i%4096], 0.3, int64(i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := i + 1000
				j.Prediction(m, v, ids[k%4096], 0.3, int64(k))
				p, ok := j.Label(m, v, ids[i%4096], 1, int64(k))
				if !ok {
					b.Fatal("no join")
				}
				if withWindow {
					mon.Add(p, &alerts)
					alerts = alerts[:0]
				}
			}
		})
	}
}

// regressionPair draws a prediction of y = 10 + 3x + noise: the model's
// error has mean bias and standard deviation sd.
func regressionPair(rng *rand.Rand, bias, sd float64) Pair {
	x := rng.NormFloat64()
	y := 10 + 3*x + rng.NormFloat64()
	return Pair{Score: 10 + 3*x + bias + sd*rng.NormFloat64(), Target: y}
}

func regressionMonitor(t testing.TB, rng *rand.Rand, p detector.Policy) *Monitor {
	pairs := make([]Pair, 50000)
	for i := range pairs {
		pairs[i] = regressionPair(rng, 0, 0)
	}
	pr, err := BuildRegressionReference(pairs, "prediction", "y")
	if err != nil {
		t.Fatal(err)
	}
	ref := &detector.Reference{Schema: detector.ReferenceSchema, ID: "sha256:test", Model: "price", Version: "1", Performance: pr}
	return newTestMonitor(t, ref, p)
}

// TestRegressionPerformance: a regression model whose errors are N(0, 1)
// in validation. Without change, 500,000 pairs raise no alert (ERT 10^7:
// 0.05 expected). When the errors grow to sd 1.5 (RMSE +50%), mae and rmse
// fire within two windows and bias does not; when the errors shift by
// +0.5 (half an error sd), bias fires within two windows.
func TestRegressionPerformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(64, 64))
	var alerts []detector.Alert
	if !testing.Short() {
		m := regressionMonitor(t, rng, detector.DefaultPolicy())
		for range 500_000 {
			m.Add(regressionPair(rng, 0, 0), &alerts)
		}
		if len(alerts) > 0 {
			t.Fatalf("%d alerts without change, first %s", len(alerts), alerts[0].Summary)
		}
	}
	for _, tc := range []struct {
		name        string
		bias, sd    float64
		want, quiet []detector.Test
	}{
		{"errors grow", 0, math.Sqrt(1.5*1.5 - 1), []detector.Test{TestMAE, TestRMSE}, []detector.Test{TestBias}},
		{"bias", 0.5, 0, []detector.Test{TestBias}, nil},
	} {
		m := regressionMonitor(t, rng, detector.DefaultPolicy())
		alerts = alerts[:0]
		const change = 5000
		for i := range change + 3000 {
			if i < change {
				m.Add(regressionPair(rng, 0, 0), &alerts)
			} else {
				m.Add(regressionPair(rng, tc.bias, tc.sd), &alerts)
			}
		}
		fired := map[detector.Test]uint64{}
		for _, a := range alerts {
			if a.Status == detector.Firing {
				if a.Window.LastSeq <= change {
					t.Errorf("%s: alert before the change: %s", tc.name, a.Summary)
				}
				if _, ok := fired[a.Test]; !ok {
					fired[a.Test] = a.Window.LastSeq - change
					t.Logf("%s: %s", tc.name, a.Summary)
				}
			}
		}
		for _, w := range tc.want {
			if d, ok := fired[w]; !ok || d > 2000 {
				t.Errorf("%s: %s fired %v (after %d pairs), want within 2000", tc.name, w, ok, d)
			}
		}
		for _, q := range tc.quiet {
			if _, ok := fired[q]; ok {
				t.Errorf("%s: %s fired", tc.name, q)
			}
		}
	}
}

// TestRateDropTestSmallReference: with a small validation set the
// reference's rate is itself uncertain. Over 400 validation sets of 300
// rows (recall: about 90 positives each) and 25 windows of 1000 pairs
// per set, all from one model, Fisher's test (RateDropTest) falls below
// α = 10⁻³ at most about α of the time; an exact binomial against the
// reference's rate — the test before — many times more often.
func TestRateDropTestSmallReference(t *testing.T) {
	const sets, windows, alpha = 400, 25, 1e-3
	rng := rand.New(rand.NewPCG(11, 12))
	// The model: 30% positives, a positive is caught (score above the
	// threshold) with probability 0.7.
	draw := func(n int) (tp, pos int64) {
		for range n {
			if rng.Float64() < 0.3 {
				pos++
				if rng.Float64() < 0.7 {
					tp++
				}
			}
		}
		return tp, pos
	}
	fisher, binomial := 0, 0
	for range sets {
		kr, nr := draw(300)
		for range windows {
			k, n := draw(1000)
			if RateDropTest(k, n, kr, nr) < alpha {
				fisher++
			}
			if detector.BinomialSF(n-k, n, 1-float64(kr)/float64(nr)) < alpha {
				binomial++
			}
		}
	}
	expected := float64(sets*windows) * alpha
	t.Logf("recall below α = %g in %d windows: Fisher %d, binomial against the reference rate %d (α × windows = %.0f)", alpha, sets*windows, fisher, binomial, expected)
	if float64(fisher) > 2*expected {
		t.Fatalf("Fisher's test: %d false alarms, more than twice the %.0f expected", fisher, expected)
	}
	if binomial < 5*fisher+5 {
		t.Fatalf("binomial %d vs Fisher %d: the small reference was not small enough to show the difference", binomial, fisher)
	}
}
