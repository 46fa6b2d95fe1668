package main

import (
	"os"
	"strings"
	"testing"
)

// TestDashboardsLinkToTheView: the Grafana dashboards open a feature's
// page in the drift view from its panels, with the names percent-encoded
// into the documented link pattern.
func TestDashboardsLinkToTheView(t *testing.T) {
	for file, want := range map[string][]string{
		"../../deploy/grafana/dashboards/driftd-feature.json": {
			`${driftd_url}/ui/feature?model=${model:percentencode}&version=${version:percentencode}&feature=${feature:percentencode}`,
			`"name": "driftd_url"`,
		},
		"../../deploy/grafana/dashboards/driftd-overview.json": {
			`${driftd_url}/ui/feature?model=${__field.labels.model:percentencode}&version=${__field.labels.version:percentencode}&feature=${__field.labels.feature:percentencode}`,
			`${driftd_url}/ui/feature?model=${__data.fields.model:percentencode}`,
			`"name": "driftd_url"`,
		},
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(data), w) {
				t.Errorf("%s: no %s", file, w)
			}
		}
	}
}
