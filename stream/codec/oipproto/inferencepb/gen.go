// Package inferencepb holds the Go types of the Open Inference Protocol
// v2 Protobuf messages, generated from predict_v2.proto.
//
// Regenerate (Debian's protobuf-compiler and
// `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12`):
//
//	go generate ./stream/codec/oipproto/inferencepb
package inferencepb

//go:generate protoc --go_out=. --go_opt=paths=source_relative predict_v2.proto
