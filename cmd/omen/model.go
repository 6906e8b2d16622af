package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/omen-sre/omen/store"
)

// modelCmd implements "omen model list|promote VERSION|rollback" on the
// store's registry. The daemon must not hold the store open (Badger takes
// a directory lock); a running daemon notices a promotion within seconds.
func modelCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen model", flag.ContinueOnError)
	storagePath := fs.String("storage.path", "data/", "omen's storage path")
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: omen model list|promote VERSION|rollback [--storage.path DIR]")
		return 2
	}
	sub := args[0]
	if rc, ok := parseFlags(fs, args[1:], stderr); !ok {
		return rc
	}
	st, err := store.Open(store.Options{Path: filepath.Join(*storagePath, "badger")})
	if err != nil {
		fmt.Fprintf(stderr, "open store %q: %v\n", *storagePath, err)
		return 1
	}
	defer st.Close()
	switch sub {
	case "list":
		ms, err := st.ListModels()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTIVE\tVERSION\tCREATED\tSIZE\tDESCRIPTION")
		for _, m := range ms {
			act := ""
			if m.Active {
				act = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", act, m.Version,
				time.UnixMilli(m.Created).UTC().Format(time.RFC3339), m.Size, m.Description)
		}
		_ = tw.Flush()
	case "promote":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: omen model promote VERSION")
			return 2
		}
		if err := st.Promote(fs.Arg(0)); err != nil {
			fmt.Fprintf(stderr, "promote %s: %v\n", fs.Arg(0), err)
			return 1
		}
		fmt.Fprintf(stdout, "promoted %s\n", fs.Arg(0))
	case "rollback":
		if err := st.Rollback(); err != nil {
			fmt.Fprintf(stderr, "rollback: %v\n", err)
			return 1
		}
		m, err := st.Active()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "active model is now %s\n", m.Version)
	default:
		fmt.Fprintf(stderr, "omen model: unknown subcommand %q\n", sub)
		return 2
	}
	return 0
}
