package detector

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"
)

// AlertSchema is the schema tag of alerts.
const AlertSchema = "driftd.alert/v1"

// Status is an alert's lifecycle state.
type Status string

// Alert statuses.
const (
	Firing   Status = "firing"
	Resolved Status = "resolved"
)

// DatasetFeature is the feature name of dataset-level alerts.
const DatasetFeature = "*"

// Alert is one state change of one (model, version, feature, test): the
// driftd.alert/v1 contract. Its ID is a hash of the key, the status, the
// reference and the evaluation's position in the stream, so a replay of
// the same events produces the same IDs.
type Alert struct {
	Schema  string `json:"schema"`
	ID      string `json:"id"`
	Status  Status `json:"status"`
	Model   string `json:"model"`
	Version string `json:"version"`
	Feature string `json:"feature"`
	Test    Test   `json:"test"`
	// Segment is the segment whose windows raised the alert
	// ("country=DE,device=ios", or "other"); empty for the model's
	// global windows.
	Segment         string       `json:"segment,omitempty"`
	Statistic       float64      `json:"statistic"`
	PValue          float64      `json:"p_value"`
	Effect          float64      `json:"effect"`
	Threshold       float64      `json:"threshold"`
	EffectThreshold float64      `json:"effect_threshold"`
	Severe          bool         `json:"severe,omitempty"`
	Window          WindowInfo   `json:"window"`
	ReferenceID     string       `json:"reference_id"`
	Evaluation      uint64       `json:"evaluation"`
	Dataset         *DatasetInfo `json:"dataset,omitempty"`
	Summary         string       `json:"summary"`
	// Update numbers the updates of a firing alert whose effect or
	// severity grew materially since it was last published (see
	// Policy.UpdateFactor); 0 for the first firing. PreviousEffect is
	// the effect last published.
	Update         int     `json:"update,omitempty"`
	PreviousEffect float64 `json:"previous_effect,omitempty"`
	// Evidence shows what changed (see Evidence).
	Evidence *Evidence `json:"evidence,omitempty"`
	// URL links to the feature's page in the drift view, when an
	// external base URL is configured.
	URL string `json:"url,omitempty"`
	// Reason says why a resolved alert resolved when it is not the
	// detector's verdict: ReasonStale (the model version sent no events
	// for the staleness bound). Empty otherwise.
	Reason string `json:"reason,omitempty"`
}

// ReasonStale marks an alert resolved because its model version went
// silent (no events for the configured staleness bound): the drift it
// reported can no longer be confirmed.
const ReasonStale = "stale"

// WindowInfo describes the window an evaluation saw.
type WindowInfo struct {
	Kind string `json:"kind"` // "count" or "time"
	// Size and Hop are in events (count) or milliseconds (time).
	Size int64 `json:"size"`
	Hop  int64 `json:"hop"`
	// N, Missing and Invalid count the events in the window.
	N       int64 `json:"n"`
	Missing int64 `json:"missing"`
	Invalid int64 `json:"invalid"`
	// FirstSeq and LastSeq number the window's first and last event
	// among the model's events (features or predictions) since driftd
	// started tracking it.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// Start and End bound the event times in the window.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// DatasetInfo details a dataset-level alert.
type DatasetInfo struct {
	Share     float64  `json:"share"`
	Drifting  []string `json:"drifting"`
	Features  int      `json:"features"`
	Threshold float64  `json:"threshold"`
}

// Key is the alert's Kafka key, model/version/feature/test (then
// /segment for a segment's alert): a compacted alert topic keeps the
// current state of every alert.
func (a *Alert) Key() string {
	k := a.Model + "/" + a.Version + "/" + a.Feature + "/" + string(a.Test)
	if a.Segment != "" {
		k += "/" + a.Segment
	}
	return k
}

// where names the alert's model version and segment, for summaries.
func (a *Alert) where() string {
	if a.Segment != "" {
		return a.Model + "/" + a.Version + " [" + a.Segment + "]"
	}
	return a.Model + "/" + a.Version
}

// AlertID is the ID of an alert raised outside a Monitor (performance
// alerts): a hash of its key, status, reference and position, like the
// IDs of drift alerts.
func AlertID(model, version, feature string, test Test, status Status, refID string, seq uint64) string {
	return alertID(model, version, feature, test, status, refID, seq)
}

func alertID(model, version, feature string, test Test, status Status, refID string, seq uint64) string {
	h := sha256.New()
	for _, s := range []string{model, version, feature, string(test), string(status), refID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func summary(a *Alert) string {
	verb := "drifting"
	switch {
	case a.Status == Resolved:
		verb = "back to reference"
	case a.Update > 0:
		verb = fmt.Sprintf("drifting, grown (update %d, effect was %.3g)", a.Update, a.PreviousEffect)
	}
	if a.Test == TestDataset && a.Dataset != nil {
		if a.Status == Resolved {
			return fmt.Sprintf("%s: dataset drift resolved, %d of %d features drifting (share %.2f < %.2f)", a.where(),
				len(a.Dataset.Drifting), a.Dataset.Features, a.Dataset.Share, a.Dataset.Threshold)
		}
		return fmt.Sprintf("%s: dataset drift, %d of %d features drifting (share %.2f ≥ %.2f): %s", a.where(),
			len(a.Dataset.Drifting), a.Dataset.Features, a.Dataset.Share, a.Dataset.Threshold, strings.Join(a.Dataset.Drifting, ", "))
	}
	return fmt.Sprintf("%s %s %s: %s (effect %.3g, gate %.3g; p %.3g, threshold %.3g; n=%d)",
		a.where(), a.Feature, a.Test, verb, a.Effect, a.EffectThreshold, a.PValue, a.Threshold, a.Window.N)
}

// AlarmState is the hysteresis state of one (feature, test).
type AlarmState struct {
	Firing bool   `json:"firing"`
	Streak int    `json:"streak"` // consecutive evaluations against the current state
	Since  uint64 `json:"since"`  // sequence number of the last transition
	// While firing: the effect and severity last published, the updates
	// published since firing, and the consecutive evaluations whose
	// effect grew past Policy.UpdateFactor × Effect.
	Effect  float64 `json:"effect,omitempty"`
	Severe  bool    `json:"severe,omitempty"`
	Updates int     `json:"updates,omitempty"`
	Grow    int     `json:"grow,omitempty"`
}

// Step feeds one evaluation and reports whether the state changed: not
// firing → firing after k consecutive drifting evaluations (at once if
// severe), firing → resolved after k consecutive clean ones.
func (a *AlarmState) Step(drifting, severe bool, k int, seq uint64) bool {
	if drifting != a.Firing {
		a.Streak++
		if a.Streak >= k || (drifting && severe) {
			*a = AlarmState{Firing: drifting, Since: seq}
			return true
		}
		return false
	}
	a.Streak = 0
	return false
}

// grown feeds a firing alert's evaluation to the update rule and reports
// whether an update is due: the result turned severe, or its effect stayed
// at least factor × the effect last published for k consecutive
// evaluations. factor ≤ 0 disables updates.
func (a *AlarmState) grown(r *Result, factor float64, k int) bool {
	if !a.Firing || factor <= 0 || !r.Drifting {
		a.Grow = 0
		return false
	}
	if r.Severe && !a.Severe {
		return true
	}
	if a.Effect > 0 && r.Effect >= factor*a.Effect {
		a.Grow++
		return a.Grow >= k
	}
	a.Grow = 0
	return false
}

// published records the effect and severity of a published alert.
func (a *AlarmState) published(r *Result, update bool) {
	a.Effect, a.Severe, a.Grow = r.Effect, a.Severe || r.Severe, 0
	if update {
		a.Updates++
	}
}

// finite maps ±Inf to ±MaxFloat64 and NaN to 0, so results always encode
// as JSON numbers.
func finiteOr(x, nan float64) float64 {
	switch {
	case math.IsNaN(x):
		return nan
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}
