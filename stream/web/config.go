// Package web is driftd's read-only HTTP JSON API and drift view: what the
// detector sees of every model, feature and test, the two distributions
// side by side, the history of every test against its thresholds, and the
// alerts with their evidence. It never touches the pipeline's state: a
// Store is fed copies at the pipeline's synchronisation points (it is a
// stream.Observer) and publishes immutable snapshots that HTTP handlers
// read through an atomic pointer, so reading never blocks the pipeline.
// The view is server-rendered HTML with SVG charts made in Go: no script,
// no stylesheet or font from any network. WriteReport renders the same
// views into one self-contained HTML file (driftd report).
//
// Memory: per feature the last evaluation's results (about 100 bytes per
// test), a history of Config.History points (16 bytes per test each), and
// the window's cell counts (4 bytes per cell) for at most
// DetailCells cells in total plus the features that fire or were looked
// at recently; per model version the last MaxAlerts alerts.
package web

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config configures the API and view. Fields are filled from DRIFTD_*
// environment variables in cmd/driftd.
type Config struct {
	// URL is the external base URL of the view (e.g.
	// https://driftd.example.com); when set, every alert carries a url
	// field linking to its feature page.
	URL string `env:"UI_URL"`
	// History is the number of points kept per feature (0: none);
	// HistoryInterval the time between two points. Each point is the
	// worst evaluation of each test since the previous one.
	History         int           `env:"UI_HISTORY"`
	HistoryInterval time.Duration `env:"UI_HISTORY_INTERVAL"`
	// SnapshotInterval is how often the pipeline's state is copied for
	// readers: the API and view are at most this old.
	SnapshotInterval time.Duration `env:"UI_SNAPSHOT_INTERVAL"`
}

// Defaults: 60 points a minute apart (an hour), snapshots every 5 s.
func Defaults() Config {
	return Config{History: 60, HistoryInterval: time.Minute, SnapshotInterval: 5 * time.Second}
}

// ConfigError names the variable of an invalid setting.
type ConfigError struct {
	Var, Msg string
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Msg }

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.History < 0 || c.History > 10000:
		return &ConfigError{"DRIFTD_UI_HISTORY", fmt.Sprintf("is %d; accepted: 0..10000 points per feature", c.History)}
	case c.History > 0 && c.HistoryInterval < 100*time.Millisecond:
		return &ConfigError{"DRIFTD_UI_HISTORY_INTERVAL", fmt.Sprintf("is %s; accepted: at least 100ms", c.HistoryInterval)}
	case c.SnapshotInterval < 100*time.Millisecond || c.SnapshotInterval > time.Hour:
		return &ConfigError{"DRIFTD_UI_SNAPSHOT_INTERVAL", fmt.Sprintf("is %s; accepted: 100ms..1h", c.SnapshotInterval)}
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return &ConfigError{"DRIFTD_UI_URL", fmt.Sprintf("is %q; accepted: an http:// or https:// base URL such as https://driftd.example.com", c.URL)}
		}
	}
	return nil
}

// FeaturePath is the path and query of a feature's page:
// /ui/feature?model=M&version=V&feature=F (&test=T when test is set).
// Names travel as query parameters, so any name — empty, with slashes or
// quotes — makes a valid link.
func FeaturePath(model, version, feature, test string) string {
	p := "/ui/feature?model=" + url.QueryEscape(model) + "&version=" + url.QueryEscape(version) + "&feature=" + url.QueryEscape(feature)
	if test != "" {
		p += "&test=" + url.QueryEscape(test)
	}
	return p
}

// ModelPath is the path and query of a model version's page.
func ModelPath(model, version string) string {
	return "/ui/model?model=" + url.QueryEscape(model) + "&version=" + url.QueryEscape(version)
}

// AlertURL is the link an alert carries: the feature page under base, or
// the model page for a dataset-level alert.
func AlertURL(base, model, version, feature, test string) string {
	base = strings.TrimRight(base, "/")
	if feature == "*" {
		return base + ModelPath(model, version)
	}
	return base + FeaturePath(model, version, feature, test)
}
