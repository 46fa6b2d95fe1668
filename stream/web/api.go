package web

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/driftd/driftd/detector"
)

func newJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}

// ModelSummary is one model version in GET /api/v1/models.
type ModelSummary struct {
	Model            string      `json:"model"`
	Version          string      `json:"version"`
	ReferenceID      string      `json:"reference_id"`
	Status           string      `json:"status"`
	FiringAlerts     int         `json:"firing_alerts"`
	FeatureCount     int         `json:"feature_count"`
	DriftShare       float64     `json:"drift_share"`
	DatasetFiring    bool        `json:"dataset_firing"`
	DatasetThreshold float64     `json:"dataset_threshold"`
	Events           uint64      `json:"events"`
	Partitions       []string    `json:"partitions"`
	LastAlert        *AlertEntry `json:"last_alert,omitempty"`
	URL              string      `json:"url"`
}

// ModelsResponse is GET /api/v1/models.
type ModelsResponse struct {
	Taken  time.Time      `json:"taken"`
	Models []ModelSummary `json:"models"`
}

// ModelResponse is GET /api/v1/model: the model version with every
// feature, ranked, and every test's last result — the full per-feature
// picture that Prometheus carries only in part.
type ModelResponse struct {
	Taken time.Time `json:"taken"`
	*Model
	URL string `json:"url"`
}

// FeatureResponse is GET /api/v1/feature.
type FeatureResponse struct {
	Taken   time.Time `json:"taken"`
	Model   string    `json:"model"`
	Version string    `json:"version"`
	*Feature
	URL string `json:"url"`
	// Reference is the feature's reference sketch: breakpoints and ranks
	// (numeric) or category counts (categorical).
	Reference *detector.FeatureRef `json:"reference"`
	// Window is the current window, when copied: the count per cell
	// (layout in CellLayout's doc), the CDF at each breakpoint and just
	// below it (numeric), the category shares (categorical), and the
	// evidence computed from them.
	Window *WindowDetail `json:"window_now,omitempty"`
	// History is the last points of every test (oldest first).
	History []HistoryPoint `json:"history"`
	// Alerts are this feature's alerts kept, newest first.
	Alerts []AlertEntry `json:"alerts"`
}

// WindowDetail is a copy of a feature's window.
type WindowDetail struct {
	Taken    time.Time                     `json:"taken"`
	N        int64                         `json:"n"`
	Cells    []uint32                      `json:"cells"`
	CDFAt    []float64                     `json:"cdf_at,omitempty"`
	CDFBelow []float64                     `json:"cdf_below,omitempty"`
	Shares   []detector.CategoryShare      `json:"category_shares,omitempty"`
	Evidence map[string]*detector.Evidence `json:"evidence,omitempty"`
}

// HistoryPoint is one point of a feature's history.
type HistoryPoint struct {
	HistoryTime
	Tests []HistoryResult `json:"tests"`
}

// HistoryResult is one test at one history point: its worst evaluation
// since the previous point.
type HistoryResult struct {
	Test      detector.Test `json:"test"`
	Statistic float32       `json:"statistic"`
	PValue    float32       `json:"p_value"`
	Effect    float32       `json:"effect"`
	Drifting  bool          `json:"drifting,omitempty"`
	Firing    bool          `json:"firing,omitempty"`
}

func summarize(m *Model) ModelSummary {
	return ModelSummary{Model: m.Model, Version: m.Version, ReferenceID: m.ReferenceID, Status: m.Status, FiringAlerts: m.Firing,
		FeatureCount: m.FeatureCount, DriftShare: m.DriftShare, DatasetFiring: m.DatasetFiring, DatasetThreshold: m.DatasetThreshold,
		Events: m.Events, Partitions: m.Partitions, LastAlert: m.LastAlert, URL: ModelPath(m.Model, m.Version)}
}

func modelsResponse(sn *Snapshot) ModelsResponse {
	r := ModelsResponse{Taken: sn.Taken, Models: []ModelSummary{}}
	for _, m := range sn.Models {
		r.Models = append(r.Models, summarize(m))
	}
	return r
}

func featureResponse(sn *Snapshot, m *Model, f *Feature) FeatureResponse {
	r := FeatureResponse{Taken: sn.Taken, Model: m.Model, Version: m.Version, Feature: f, Reference: f.Ref,
		URL: FeaturePath(m.Model, m.Version, f.Name, ""), History: []HistoryPoint{}, Alerts: []AlertEntry{}}
	tests := len(f.Tests)
	for i, t := range m.History {
		if tests == 0 || len(f.History) < (i+1)*tests {
			break
		}
		hp := HistoryPoint{HistoryTime: t}
		for j, ts := range f.Tests {
			p := f.History[i*tests+j]
			if p.Flags&PointEvaluated == 0 {
				continue
			}
			hp.Tests = append(hp.Tests, HistoryResult{Test: ts.Test, Statistic: p.Statistic, PValue: p.PValue, Effect: p.Effect,
				Drifting: p.Flags&PointDrifting != 0, Firing: p.Flags&PointFiring != 0})
		}
		r.History = append(r.History, hp)
	}
	for _, a := range m.Alerts {
		if a.Feature == f.Name {
			r.Alerts = append(r.Alerts, a)
		}
	}
	if d := f.Detail; d != nil {
		w := &WindowDetail{Taken: f.DetailAt, Cells: d.Cells, Evidence: map[string]*detector.Evidence{}}
		layout := detector.CellLayout(f.Ref)
		for i, c := range d.Cells {
			if i < layout.Valid {
				w.N += int64(c)
			}
		}
		w.CDFAt, w.CDFBelow, _ = detector.CDFPoints(f.Ref, d.Cells)
		for _, ts := range f.Tests {
			if ev := detector.Explain(f.Ref, ts.Test, d.Cells, d.Moments, d.Examples); ev != nil {
				w.Evidence[string(ts.Test)] = ev
			}
		}
		if f.Ref.Kind == detector.Categorical && w.N > 0 {
			for i, c := range f.Ref.Categories {
				w.Shares = append(w.Shares, detector.CategoryShare{Value: c.Value, Window: float64(d.Cells[i]) / float64(w.N),
					Reference: float64(c.Count) / float64(max(f.Ref.Count, 1)), Count: int64(d.Cells[i])})
			}
			k := len(f.Ref.Categories)
			w.Shares = append(w.Shares, detector.CategoryShare{Other: true, Window: float64(d.Cells[k]) / float64(w.N),
				Reference: float64(f.Ref.Other) / float64(max(f.Ref.Count, 1)), Count: int64(d.Cells[k])})
		}
		r.Window = w
	}
	return r
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	newJSONEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func (s *Store) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/models", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, modelsResponse(s.Snapshot()))
	})
	mux.HandleFunc("GET /api/v1/model", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sn := s.Snapshot()
		m := sn.model(modelKey{q.Get("model"), q.Get("version")})
		if m == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such model version (parameters: model, version)"})
			return
		}
		writeJSON(w, http.StatusOK, ModelResponse{Taken: sn.Taken, Model: m, URL: ModelPath(m.Model, m.Version)})
	})
	mux.HandleFunc("GET /api/v1/feature", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		k := featureKey{modelKey{q.Get("model"), q.Get("version")}, q.Get("feature")}
		m, f := s.waitDetail(r.Context(), k, 3*time.Second)
		if f == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such feature (parameters: model, version, feature)"})
			return
		}
		writeJSON(w, http.StatusOK, featureResponse(s.Snapshot(), m, f))
	})
	mux.HandleFunc("GET /api/v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sn := s.Snapshot()
		out := []AlertEntry{}
		for _, m := range sn.Models {
			if (q.Has("model") && m.Model != q.Get("model")) || (q.Has("version") && m.Version != q.Get("version")) {
				continue
			}
			out = append(out, m.Alerts...)
		}
		writeJSON(w, http.StatusOK, map[string]any{"taken": sn.Taken, "alerts": out})
	})
}
