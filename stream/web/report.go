package web

import (
	"bytes"
	"io"
	"time"
)

// reportData is a whole report: the overview, then every model's page and
// every feature's page, linked by fragments.
type reportData struct {
	overviewData
	Pages []reportPage
}

type reportPage struct {
	ID      string
	Model   *modelData
	Feature *featureData
}

type alertListData struct {
	P page
	A []recentAlert
}

// WriteReport renders the store's snapshot as one self-contained HTML
// file: the overview, each model version's page and each feature's page,
// with no script and no external resource.
func (s *Store) WriteReport(w io.Writer, version string, generated time.Time) error {
	sn := s.Snapshot()
	l := links{report: true}
	d := reportData{overviewData: buildOverview(sn, l)}
	for _, m := range sn.Models {
		md := buildModel(m, l)
		d.Pages = append(d.Pages, reportPage{ID: anchor("model", m.Model, m.Version, ""), Model: &md})
		for _, f := range m.Features {
			fd := buildFeature(m, f, "")
			d.Pages = append(d.Pages, reportPage{ID: anchor("feature", m.Model, m.Version, f.Name), Feature: &fd})
		}
	}
	p := page{Title: "driftd report", Now: generated, Taken: sn.Taken, Links: l, Report: true, Version: version, Body: d}
	var b bytes.Buffer
	if err := parseTemplates().ExecuteTemplate(&b, "report", p); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// ReportJSON is the JSON form of a report: every model version with
// every feature's detail, history and alerts.
type ReportJSON struct {
	Generated time.Time         `json:"generated"`
	Models    []ReportJSONModel `json:"models"`
}

// ReportJSONModel is one model version of a JSON report.
type ReportJSONModel struct {
	ModelSummary
	Features []FeatureResponse `json:"features"`
	Alerts   []AlertEntry      `json:"alerts"`
}

// WriteReportJSON writes the JSON form of a report.
func (s *Store) WriteReportJSON(w io.Writer, generated time.Time) error {
	sn := s.Snapshot()
	out := ReportJSON{Generated: generated, Models: []ReportJSONModel{}}
	for _, m := range sn.Models {
		rm := ReportJSONModel{ModelSummary: summarize(m), Alerts: m.Alerts, Features: []FeatureResponse{}}
		if rm.Alerts == nil {
			rm.Alerts = []AlertEntry{}
		}
		for _, f := range m.Features {
			rm.Features = append(rm.Features, featureResponse(sn, m, f))
		}
		out.Models = append(out.Models, rm)
	}
	return newJSONEncoder(w).Encode(out)
}
