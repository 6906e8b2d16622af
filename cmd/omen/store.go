package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"time"

	"github.com/omen-sre/omen/internal/tty"
	"github.com/omen-sre/omen/store"
)

const storeUsage = `usage: omen store verify [--storage.path DIR] [--tables-only]

verify checks the store at --storage.path for damage without changing
it, while no omen holds it (stop the daemon first: a running omen
changes the store's files as they are read, so verify refuses a store in
use). It checks that the MANIFEST and KEYREGISTRY decode, that every
value-log file (.vlog) holds its 20-byte header, and that every
table (.sst) matches its block checksums: damage in the middle of a
table, which omen run's start does not see (it reads a table's index and
last block), and which otherwise shows only when a read reaches that
block. Then, unless --tables-only, it reads every record (a value in the
value log must match its checksum) and decodes it as the store does
(ingest batches, vectors, predictions, events, outbox items, alert
states; JSON records; each model's data against its size and SHA-256).
A store that was not closed cleanly (omen killed), or that an omen whose
start failed left an empty memtable log in, has its files checked but not
its records: opening it once with omen (omen model list) replays or
deletes its memtable log, then verify it again. Progress shows on a
terminal; the summary (tables, value-log files and the disk space they
take, records read and those whose value does not read, and each damaged
item by file with what is wrong: the first 10 damaged records of a file,
then how many more) prints on stdout.

Exit status: 0 intact, 1 damaged or not fully checked (the message says
which: a store in use, not closed cleanly, no store at the path),
2 usage.

flags:`

// storeCmd implements "omen store verify".
func storeCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen store", flag.ContinueOnError)
	storagePath := fs.String("storage.path", "data/", "omen's storage path (the daemon must not be running)")
	tablesOnly := fs.Bool("tables-only", false, "verify: check the files only (MANIFEST, KEYREGISTRY, every value-log file's header, every table's block checksums), not the records")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), storeUsage)
		fs.PrintDefaults()
	}
	if rc, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return rc
	}
	switch {
	case fs.NArg() == 0:
		fs.Usage()
		return 2
	case fs.Arg(0) == "help":
		printHelp(fs, stdout)
		return 0
	case fs.Arg(0) != "verify":
		fmt.Fprintf(stderr, "omen store: unknown subcommand %q (want verify)\n", fs.Arg(0))
		return 2
	case fs.NArg() > 1:
		fmt.Fprintf(stderr, "omen store verify: want no arguments, got %q (the store is --storage.path's)\n", fs.Args()[1:])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	return storeVerify(ctx, *storagePath, *tablesOnly, stdout, stderr)
}

// storeVerify runs omen store verify on the store under path.
func storeVerify(ctx context.Context, path string, tablesOnly bool, stdout, stderr io.Writer) int {
	dir := filepath.Join(path, "badger")
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "omen store verify: no omen store at %q (--storage.path)\n", path)
		} else {
			fmt.Fprintf(stderr, "omen store verify: %v\n", err)
		}
		return 1
	}
	prog := &verifyProgress{w: stderr, tty: tty.IsTerminal(stderr), now: time.Now}
	rep, err := store.Verify(ctx, store.VerifyOptions{Path: dir, SkipRecords: tablesOnly, Progress: prog.show,
		Logger: cliLogger(stderr, "omen store verify")})
	prog.clear()
	if err != nil {
		if errors.Is(err, store.ErrInUse) {
			fmt.Fprintf(stderr, "omen store verify: the store at %q is in use by another omen process (omen run, or omen model or omen train while they work): "+
				"stop it, then verify (a running omen changes the store's files as they are read)\n", path)
		} else {
			fmt.Fprintf(stderr, "omen store verify: %v\n", err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "store %s\n", dir)
	fmt.Fprintf(stdout, "tables:          %d (%s), block checksums checked\n", rep.Tables, sizeText(rep.TableBytes))
	fmt.Fprintf(stdout, "value-log files: %d (%s on disk)\n", rep.ValueLogFiles, sizeText(rep.ValueLogBytes))
	switch {
	case tablesOnly:
		fmt.Fprintln(stdout, "records:         not checked (--tables-only)")
	case rep.RecordsSkipped == "" && rep.RecordsUnread > 0:
		fmt.Fprintf(stdout, "records:         %d (%s of keys and values), read and decoded; %d more whose value does not read\n",
			rep.Records, sizeText(rep.RecordBytes), rep.RecordsUnread)
	case rep.RecordsSkipped == "":
		fmt.Fprintf(stdout, "records:         %d (%s of keys and values), read and decoded\n", rep.Records, sizeText(rep.RecordBytes))
	default:
		fmt.Fprintf(stdout, "records:         not checked: %s\n", rep.RecordsSkipped)
	}
	if n := rep.DamagedCount(); n > 0 {
		fmt.Fprintf(stdout, "damaged:         %d\n", n)
		printDamage(stdout, rep)
		fmt.Fprintf(stderr, "omen store verify: the store at %q is damaged (listed above): restore %q from a copy taken while omen was stopped "+
			"(what was stored since that copy is lost), or move it away to start with an empty store (everything it held is lost; "+
			"register and promote a model again with omen model add and promote)\n", path, dir)
		return 1
	}
	if rep.RecordsSkipped != "" && !tablesOnly {
		fmt.Fprintln(stderr, "omen store verify: no damage found in the files, but the records were not checked (see above)")
		return 1
	}
	fmt.Fprintln(stdout, "no damage found")
	return 0
}

// printDamage lists the damage of rep grouped by file (in the order
// each file was first found damaged), each file's listed items followed
// by how many more damaged records it has.
func printDamage(w io.Writer, rep store.VerifyReport) {
	var files []string
	byFile := map[string][]store.Damage{}
	for _, d := range rep.Damaged {
		if _, ok := byFile[d.File]; !ok {
			files = append(files, d.File)
		}
		byFile[d.File] = append(byFile[d.File], d)
	}
	var unlisted []string // not reached: a file's first records are listed
	for f := range rep.Unlisted {
		if _, ok := byFile[f]; !ok {
			unlisted = append(unlisted, f)
		}
	}
	slices.Sort(unlisted)
	files = append(files, unlisted...)
	for _, f := range files {
		for _, d := range byFile[f] {
			fmt.Fprintf(w, "  %s\n", d)
		}
		if n := rep.Unlisted[f]; n > 0 {
			name := f
			if name == "" {
				name = "(file not known)"
			}
			fmt.Fprintf(w, "  %s: %d more damaged records (not listed)\n", name, n)
		}
	}
}

// sizeText is n bytes for a person: "542.1 MB" (decimal units).
func sizeText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// verifyProgress redraws store.Verify's progress on one line of a
// terminal, at most 10 times a second; elsewhere it prints nothing.
type verifyProgress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	last  time.Time
	drawn bool
}

func (p *verifyProgress) show(v store.VerifyProgress) {
	if !p.tty {
		return
	}
	now := p.now()
	if now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.drawn = now, true
	line := fmt.Sprintf("omen store verify: tables %d/%d (%s of %s)", v.Tables, v.TablesTotal, sizeText(v.TableBytes), sizeText(v.TableBytesTotal))
	if v.Records > 0 {
		line += fmt.Sprintf(", records %d of about %d", v.Records, max(v.Records, v.RecordsTotal))
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
}

// clear erases the progress line, if one was drawn.
func (p *verifyProgress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
