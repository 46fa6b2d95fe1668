package detector

import (
	"errors"
	"fmt"
	"slices"
)

// OtherSegment is the segment of the events whose segment value came after
// the cap was reached.
const OtherSegment = "other"

// Limits on segments.
const (
	// MaxSegments caps SegmentConfig.Max.
	MaxSegments = 1000
	// MaxSegmentValueLen is the longest segment value kept; longer ones are
	// truncated.
	MaxSegmentValueLen = 128
)

// SegmentConfig gives a model version windows per segment — per value of
// some event fields (e.g. country, device) — besides its global windows,
// so drift confined to one segment is not diluted in the global window.
type SegmentConfig struct {
	// Keys are the feature names whose values make the segment, e.g.
	// "country,device" gives segments "country=DE,device=ios". None: no
	// segments.
	Keys []string `env:"SEGMENT_KEYS" envSeparator:","`
	// Max is the number of distinct segments kept per model version and
	// input partition (default 20); the events of later values go to the
	// segment "other" and are counted.
	Max int `env:"SEGMENT_MAX"`
}

// Enabled reports whether segments are configured.
func (c SegmentConfig) Enabled() bool { return len(c.Keys) > 0 }

// Validate checks the segment settings.
func (c SegmentConfig) Validate() error {
	if len(c.Keys) > 8 {
		return fmt.Errorf("segment keys: %d keys, at most 8", len(c.Keys))
	}
	for i, k := range c.Keys {
		if k == "" || len(k) > MaxNameLen || slices.Contains(c.Keys[:i], k) {
			return fmt.Errorf("segment keys: %q is empty, too long or repeated", k)
		}
	}
	if c.Enabled() && (c.Max < 1 || c.Max > MaxSegments) {
		return fmt.Errorf("segment max must be in 1..%d, got %d", MaxSegments, c.Max)
	}
	return nil
}

// SegmentRef is the reference of one segment: the segment's own training
// rows, sketched like the reference's (Reference.Segments).
type SegmentRef struct {
	Segment      string        `json:"segment"`
	Rows         int64         `json:"rows"`
	Features     []*FeatureRef `json:"features"`
	Multivariate *Multivariate `json:"multivariate,omitempty"`
}

// segmentReference returns the reference a segment's windows compare with:
// its own when the reference has one, the model's otherwise. It carries
// the model's ID, which alerts name.
func (r *Reference) segmentReference(segment string) *Reference {
	for _, s := range r.Segments {
		if s.Segment == segment {
			return &Reference{Schema: r.Schema, ID: r.ID, Model: r.Model, Version: r.Version, Created: r.Created,
				Rows: s.Rows, Source: r.Source, Features: s.Features, Multivariate: s.Multivariate}
		}
	}
	return r
}

// withoutFeatures returns r without the named features — a segment's
// windows leave out its keys, constant within it (the events' values of
// them count as unexpected).
func withoutFeatures(r *Reference, names []string) *Reference {
	c := *r
	c.Features = make([]*FeatureRef, 0, len(r.Features))
	for _, f := range r.Features {
		if !slices.Contains(names, f.Name) {
			c.Features = append(c.Features, f)
		}
	}
	if mv := c.Multivariate; mv != nil {
		for _, in := range mv.Inputs {
			if slices.Contains(names, in) {
				// A numeric segment key is constant in its segment: the
				// PCA cannot hold. Drop it and its derived feature.
				c.Multivariate = nil
				c.Features = slices.DeleteFunc(c.Features, func(f *FeatureRef) bool { return f.Name == mv.Feature })
				break
			}
		}
	}
	if len(c.Features) == 0 {
		return r
	}
	return &c
}

func (r *Reference) validateSegments() error {
	if len(r.Segments) > MaxSegments {
		return fieldErr("segments", "has %d entries, more than %d", len(r.Segments), MaxSegments)
	}
	seen := map[string]bool{}
	for i, s := range r.Segments {
		path := fmt.Sprintf("segments[%d]", i)
		if s == nil {
			return fieldErr(path, "is null")
		}
		if s.Segment == "" || s.Segment == OtherSegment || len(s.Segment) > 8*(MaxNameLen+MaxSegmentValueLen+2) {
			return fieldErr(path+".segment", "%q is empty, reserved or too long", s.Segment)
		}
		if seen[s.Segment] {
			return fieldErr(path+".segment", "%q appears twice", s.Segment)
		}
		seen[s.Segment] = true
		sub := r.segmentReference(s.Segment)
		sub.Segments = nil
		if err := sub.Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: path + "." + fe.Field, Err: fe.Err}
			}
			return err
		}
	}
	return nil
}

// segmentState is a monitor's per-segment monitors.
type segmentState struct {
	cfg      SegmentConfig
	policies *Policies
	monitors map[string]*Monitor
	order    []string // segments in order of first sight
	overflow uint64   // events sent to "other" because of the cap
	errors   uint64   // segments a monitor could not be built for
}

// EnableSegments gives the monitor windows per segment (see
// SegmentConfig). The monitor's own windows stay global. The threshold of
// every test is halved: the global windows and the segments' windows —
// which split the events between them — each get half the false-alarm
// budget (see Alpha).
func (m *Monitor) EnableSegments(cfg SegmentConfig, policies *Policies) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !cfg.Enabled() {
		return nil
	}
	m.segs = &segmentState{cfg: cfg, policies: policies, monitors: map[string]*Monitor{}}
	m.budgetSplit = 2
	return nil
}

// Segment returns the monitor of the events whose segment value is value
// (as built by AppendSegment), creating it on first sight; past the cap,
// the "other" segment's. It returns nil when segments are not enabled or
// the segment's monitor cannot be built (counted).
func (m *Monitor) Segment(value []byte) *Monitor {
	s := m.segs
	if s == nil {
		return nil
	}
	if sm, ok := s.monitors[string(value)]; ok {
		return sm
	}
	name := string(value)
	if len(s.order) >= s.cfg.Max && name != OtherSegment {
		s.overflow++
		if sm, ok := s.monitors[OtherSegment]; ok {
			return sm
		}
		name = OtherSegment
	}
	sm, err := NewMonitor(withoutFeatures(m.ref.segmentReference(name), s.cfg.Keys), s.policies, m.cfg)
	if err != nil {
		s.errors++
		return nil
	}
	m.install(name, sm)
	return sm
}

// install adds the monitor of a segment: its name, its share of the
// false-alarm budget, its place in the order of first sight (the cap).
func (m *Monitor) install(name string, sm *Monitor) {
	s := m.segs
	sm.segment, sm.budgetSplit = name, m.budgetSplit
	s.monitors[name] = sm
	if name != OtherSegment {
		s.order = append(s.order, name)
	}
}

// RestoreSegment installs the monitor of a segment restored from its
// checkpoints (those of a monitor Segment returned), enabling segments
// with cfg first if needed. It fails when segments are off in cfg, the
// segment is there already, or the cap is reached.
func (m *Monitor) RestoreSegment(cfg SegmentConfig, policies *Policies, name string, cps []FeatureCheckpoint) error {
	if m.segs == nil {
		if !cfg.Enabled() {
			return errors.New("segments are not enabled")
		}
		if err := m.EnableSegments(cfg, policies); err != nil {
			return err
		}
	}
	s := m.segs
	if _, ok := s.monitors[name]; ok {
		return fmt.Errorf("segment %q restored twice", name)
	}
	if name != OtherSegment && len(s.order) >= s.cfg.Max {
		return fmt.Errorf("segment %q is past the cap of %d segments", name, s.cfg.Max)
	}
	sm, err := RestoreMonitor(withoutFeatures(m.ref.segmentReference(name), s.cfg.Keys), s.policies, m.cfg, cps)
	if err != nil {
		return err
	}
	m.install(name, sm)
	return nil
}

// SegmentName is the segment of a per-segment monitor ("" for a model's
// own monitor).
func (m *Monitor) SegmentName() string { return m.segment }

// Segments returns the per-segment monitors by segment, nil without
// segments.
func (m *Monitor) Segments() map[string]*Monitor {
	if m.segs == nil {
		return nil
	}
	return m.segs.monitors
}

// AppendSegment appends the segment value of key i (0-based) to dst:
// "key=value", separated from the previous key's by a comma. The value is
// truncated to MaxSegmentValueLen bytes; a missing value is empty.
func AppendSegment(dst []byte, i int, key string, v Value, present bool) []byte {
	if i > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, key...)
	dst = append(dst, '=')
	if !present || v.Kind == Null || v.Kind == Other {
		return dst
	}
	start := len(dst)
	if v.Kind == Number && len(v.Text) == 0 {
		dst = AppendCategoryNumber(dst, v.Num)
	} else {
		dst = append(dst, v.Text...)
	}
	if len(dst)-start > MaxSegmentValueLen {
		dst = dst[:start+MaxSegmentValueLen]
	}
	return dst
}

// SegmentBuildOptions configures the per-segment references of a build.
type SegmentBuildOptions struct {
	// Keys are the features whose values make the segment, as in
	// SegmentConfig.Keys.
	Keys []string
	// Max is the number of segments built (default 20), the first seen.
	Max int
	// MinRows is the training rows a segment needs for a reference of
	// its own (default 1000); smaller segments use the model's.
	MinRows int64
}

func (o *SegmentBuildOptions) defaults() error {
	if o.Max == 0 {
		o.Max = 20
	}
	if o.MinRows == 0 {
		o.MinRows = 1000
	}
	if err := (SegmentConfig{Keys: o.Keys, Max: o.Max}).Validate(); err != nil {
		return err
	}
	if len(o.Keys) == 0 {
		return errors.New("segment keys: none given")
	}
	if o.MinRows < 2 {
		return fmt.Errorf("segment min rows must be at least 2, got %d", o.MinRows)
	}
	return nil
}

// segmentBuild routes training rows to a builder per segment.
type segmentBuild struct {
	opts     SegmentBuildOptions
	builders map[string]*Builder
	order    []string
	row      []segmentValue // the current row's values
	text     []byte         // their text, copied
	key      []byte
	// Notes say which segments got no reference of their own and why.
	Notes    []string
	overflow int64 // rows of segments past Max
}

type segmentValue struct {
	name      string
	v         Value
	from, end int // v.Text in text
}

func (s *segmentBuild) add(name string, v Value) {
	sv := segmentValue{name: name, v: v, from: len(s.text)}
	s.text = append(s.text, v.Text...)
	sv.end = len(s.text)
	sv.v.Text = nil
	s.row = append(s.row, sv)
}

func (s *segmentBuild) endRow(parent *Builder) {
	s.key = s.key[:0]
	for i, k := range s.opts.Keys {
		var v Value
		present := false
		for _, sv := range s.row {
			if sv.name == k {
				v, present = sv.v, true
				v.Text = s.text[sv.from:sv.end]
				break
			}
		}
		s.key = AppendSegment(s.key, i, k, v, present)
	}
	b := s.builders[string(s.key)]
	if b == nil {
		if len(s.order) >= s.opts.Max {
			s.overflow++
			return
		}
		opts := parent.opts
		opts.Segments = nil
		b, _ = NewBuilder(parent.model, parent.version, opts) // the options were checked by the parent
		s.builders[string(s.key)] = b
		s.order = append(s.order, string(s.key))
	}
	b.BeginRow()
	for _, sv := range s.row {
		v := sv.v
		v.Text = s.text[sv.from:sv.end]
		_ = b.Add(sv.name, v) // the parent accepted the name
	}
	b.EndRow()
}

// addTo builds the segments' references into ref.Segments, in segment
// order; segments too small or whose build fails are noted and left out.
func (s *segmentBuild) addTo(ref *Reference) {
	names := slices.Clone(s.order)
	slices.Sort(names)
	for _, name := range names {
		b := s.builders[name]
		if b.row < s.opts.MinRows {
			s.Notes = append(s.Notes, fmt.Sprintf("segment %s: %d rows, fewer than %d: compared with the model's reference", name, b.row, s.opts.MinRows))
			continue
		}
		sub, err := b.Reference()
		if err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("segment %s: %v: compared with the model's reference", name, err))
			continue
		}
		sub = withoutFeatures(sub, s.opts.Keys)
		ref.Segments = append(ref.Segments, &SegmentRef{Segment: name, Rows: b.row, Features: sub.Features, Multivariate: sub.Multivariate})
	}
	if s.overflow > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d rows of segments beyond the first %d have no reference of their own", s.overflow, s.opts.Max))
	}
}

// SegmentNotes says which segments of a build got no reference of their
// own, and why.
func (b *Builder) SegmentNotes() []string {
	if b.seg == nil {
		return nil
	}
	return b.seg.Notes
}
