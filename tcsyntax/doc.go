// Package tcsyntax reads iproute2's tc command lines into netyard's
// configuration objects (qdisc.Spec, cls.Filter, act.Spec), performs them
// on a Target, and prints objects back as tc prints them: text, "-s"
// statistics and "-j" JSON, byte for byte where netyard has what the
// kernel has.
//
// The grammar follows iproute2's tc/*.c files rather than its manual
// pages: keywords abbreviate as its matches() allows, in the order its
// if-chains try them ("tc qd sh dev eth0" works, "tc qdisc l" is "link"),
// numbers read as strtoul reads them ("0x10", "010"), and flower's key
// dependencies are f_flower.c's. docs/TC.md lists the grammar and every
// place it differs from iproute2.
//
// The pieces:
//
//   - Parse turns the words of one command into a Command; Command.Args
//     turns it back into words Parse reads into the same Command.
//   - Exec performs a Command on a Target and prints show/get answers.
//   - Run (and CLI) is the whole tc command line: global options, one
//     command, or a batch file (-b FILE, -b - for stdin, -force).
//   - Printer and QdiscsJSON, FiltersJSON, ActionsJSON print views for
//     other packages (a daemon's statistics file).
//   - ParseRate, ParseSize, ParseTime and FormatRate, FormatSize,
//     FormatTime are tc's unit rules, for every qdisc's parameters.
//   - RegisterQdisc adds a qdisc kind (its parameter parser and printer);
//     q_fifo.go is the pattern to follow.
package tcsyntax
