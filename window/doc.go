// Package window owns driftd's windows: the pane, a mergeable summary of
// consecutive events of one feature (events per reference cell, missing
// and invalid counts, Welford moments), and the sliding windows built from
// panes — count windows (size N events, hop H) and event-time windows
// (size T, hop S, allowed lateness).
//
// The package does no I/O and never reads a clock: event times are
// parameters. Every window's memory is fixed when it is created and does
// not grow with traffic.
//
// Cells. A feature's values are counted in cells described by a Layout:
// value cells first (2r+1 reference cells for a numeric feature with r
// breakpoints, see Breaks; the reference categories plus "other" for a
// categorical feature), then one cell for missing and one for invalid
// values. Counting a window in reference cells is what makes the KS
// distance against a reference exact and O(r).
package window
