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
	"strings"
	"time"

	"github.com/omen-sre/omen/internal/atomicfile"
	"github.com/omen-sre/omen/internal/tty"
	"github.com/omen-sre/omen/store"
)

const storeUsage = `usage: omen store verify|backup|restore [flags]

  omen store verify [--storage.path DIR] [--tables-only]
  omen store backup --url URL [--token-file F] [--ca-file F] --out FILE
  omen store backup --storage.path DIR --out FILE
  omen store restore --in FILE [--storage.path DIR] [--config.file F]

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

backup writes a backup of the store to --out: with --url, of a running
daemon's store through its API (POST /api/v1/store/backup, behind its
token), while it runs; without --url, of the store at --storage.path,
opened read-only, while no omen holds it (one held by a running omen is
refused: give --url). The backup holds every record of the store as of
one moment (the model registry, alert states, explanations, predictions,
the feature history and the ingest log), not the embedded NATS server's
JetStream data (--storage.path's nats directory). It is written to a
temporary file beside --out, checked (its trailer's SHA-256) and renamed
to --out at the end: a backup that failed leaves no file.

restore writes the backup --in into a new store at --storage.path (its
badger directory), which must hold no store: restore never overwrites
(move the old one away first). It checks the backup as it reads it (a
file cut short or damaged is refused, leaving nothing), then opens the
store as omen run does. --config.file sizes the store's files as omen run
--config.file does (storage settings). Start omen on that storage path
once restored.

Exit status: 0 intact or done, 1 damaged, refused or failed (the message
says which: a store in use, not closed cleanly, no store at the path, a
backup cut short), 2 usage.

flags:`

// storeCmd implements "omen store verify|backup|restore".
func storeCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen store", flag.ContinueOnError)
	storagePath := fs.String("storage.path", "data/", "omen's storage path (verify, backup without --url: the daemon must not be running; restore: where to create the store)")
	tablesOnly := fs.Bool("tables-only", false, "verify: check the files only (MANIFEST, KEYREGISTRY, every value-log file's header, every table's block checksums), not the records")
	var cf clientFlags
	cf.register(fs, "")
	out := fs.String("out", "", "backup: the file to write the backup to (replaced when it exists)")
	in := fs.String("in", "", "restore: the backup file to restore")
	configFile := fs.String("config.file", "", "restore: the daemon's configuration file, whose storage settings size the restored store's files (none: the defaults)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), storeUsage)
		fs.PrintDefaults()
	}
	if rc, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return rc
	}
	sub := fs.Arg(0)
	// The flags each subcommand takes.
	takes := map[string][]string{
		"verify":  {"storage.path", "tables-only"},
		"backup":  {"storage.path", "url", "token-file", "ca-file", "out"},
		"restore": {"storage.path", "in", "config.file"},
	}
	switch {
	case fs.NArg() == 0:
		return usageError(stderr, fs.Name(), "missing the subcommand (verify, backup or restore)")
	case sub == "help":
		printHelp(fs, stdout)
		return 0
	case takes[sub] == nil:
		return usageError(stderr, fs.Name(), fmt.Sprintf("unknown subcommand %q (want verify, backup or restore)", sub))
	case fs.NArg() > 1:
		return usageError(stderr, fs.Name()+" "+sub, fmt.Sprintf("unexpected arguments %q (the store is --storage.path's)", fs.Args()[1:]))
	}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(takes[sub], f.Name) {
			misplaced = append(misplaced, "--"+f.Name)
		}
	})
	if len(misplaced) > 0 {
		fmt.Fprintf(stderr, "omen store %s: %s not a flag of %s (see omen store help)\n", sub, strings.Join(misplaced, ", "), sub)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	switch sub {
	case "backup":
		switch {
		case *out == "":
			fmt.Fprintln(stderr, "omen store backup: --out FILE is required")
			return 2
		case *cf.url != "" && flagSet(fs, "storage.path"):
			fmt.Fprintln(stderr, "omen store backup: give --url (a running daemon's store) or --storage.path (a stopped omen's), not both")
			return 2
		case *cf.url == "" && (flagSet(fs, "token-file") || flagSet(fs, "ca-file")):
			fmt.Fprintln(stderr, "omen store backup: --token-file and --ca-file are for --url")
			return 2
		}
		if err := cf.check(); err != nil {
			fmt.Fprintf(stderr, "omen store backup: %v\n", err)
			return 2
		}
		return storeBackup(ctx, cf, *storagePath, *out, stdout, stderr)
	case "restore":
		if *in == "" {
			fmt.Fprintln(stderr, "omen store restore: --in FILE is required")
			return 2
		}
		return storeRestore(ctx, *in, *storagePath, *configFile, stdout, stderr)
	}
	return storeVerify(ctx, *storagePath, *tablesOnly, stdout, stderr)
}

// storeBackup runs omen store backup: through the API at cf's URL, else
// of the store under path.
func storeBackup(ctx context.Context, cf clientFlags, path, out string, stdout, stderr io.Writer) int {
	prog := &progressLine{w: stderr, tty: tty.IsTerminal(stderr), now: time.Now}
	var (
		info store.BackupInfo
		from string
	)
	write := func(w io.Writer) error {
		var err error
		if *cf.url == "" {
			from = filepath.Join(path, "badger")
			info, err = store.BackupDir(ctx, from, w, store.BackupOptions{Progress: prog.showBackup,
				Logger: cliLogger(stderr, "omen store backup")})
			return err
		}
		from = *cf.url
		info, err = backupThroughAPI(ctx, cf, w, prog.showBackup)
		return err
	}
	if *cf.url == "" {
		if _, err := os.Stat(filepath.Join(path, "badger")); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "omen store backup: no omen store at %q (--storage.path)\n", path)
			return 1
		}
	}
	err := atomicfile.WriteFunc(out, 0o600, write)
	prog.clear()
	if err != nil {
		if errors.Is(err, store.ErrInUse) {
			fmt.Fprintf(stderr, "omen store backup: the store at %q is in use by another omen process (omen run, or omen model or omen train while they work): "+
				"back up a running daemon's store through its API (--url), or stop it, then back it up\n", path)
		} else {
			fmt.Fprintf(stderr, "omen store backup: %v\n", err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "backup of %s written to %s: %d records, %s, sha256 %s\n", from, out, info.Records, sizeText(info.Bytes), info.SHA256)
	return 0
}

// backupThroughAPI downloads a backup through the API into w, checking
// it as it comes (store.CheckBackup): a download cut short, or one whose
// trailer does not match, fails.
func backupThroughAPI(ctx context.Context, cf clientFlags, w io.Writer, progress func(store.BackupProgress)) (store.BackupInfo, error) {
	c, err := cf.client()
	if err != nil {
		return store.BackupInfo{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	dl := make(chan error, 1)
	go func() {
		_, err := c.Backup(ctx, pw)
		pw.CloseWithError(err) // nil: EOF
		dl <- err
	}()
	info, err := store.CheckBackup(ctx, io.TeeReader(pr, w), progress)
	_ = pr.CloseWithError(errCheckEnded) // stops the download, if still running
	cancel()
	if dlErr := <-dl; dlErr != nil && err != nil && !errors.Is(dlErr, errCheckEnded) {
		return info, dlErr // the cause: the API's answer, a connection cut
	}
	return info, err
}

// errCheckEnded stops a download whose check ended (its error is the
// check's).
var errCheckEnded = errors.New("the backup's check ended")

// storeRestore runs omen store restore.
func storeRestore(ctx context.Context, in, path, configFile string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(configFile)
	if err != nil {
		fmt.Fprintf(stderr, "omen store restore: %v\n", err)
		return 1
	}
	f, err := os.Open(in)
	if err != nil {
		fmt.Fprintf(stderr, "omen store restore: %v\n", err)
		return 1
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	dir := filepath.Join(path, "badger")
	made := missingDirs(path)
	if err := os.MkdirAll(path, 0o750); err != nil {
		fmt.Fprintf(stderr, "omen store restore: %v\n", err)
		return 1
	}
	prog := &progressLine{w: stderr, tty: tty.IsTerminal(stderr), now: time.Now}
	info, err := store.Restore(ctx, f, store.RestoreOptions{Path: dir, Store: cfg.Storage.StoreOptions(dir), Size: size,
		Progress: func(p store.BackupProgress) { prog.showRestore(p, size) }})
	prog.clear()
	if err != nil {
		for _, d := range made { // the storage path, if restore made it
			if os.Remove(d) != nil {
				break
			}
		}
		if errors.Is(err, store.ErrBackupInvalid) {
			fmt.Fprintf(stderr, "omen store restore: %s: %v; nothing was restored\n", in, err)
		} else {
			fmt.Fprintf(stderr, "omen store restore: %v\n", err)
		}
		return 1
	}
	h := info.Header
	fmt.Fprintf(stdout, "restored %s into %s: %d records, backed up %s by omen %s; start omen with --storage.path %s\n",
		in, dir, info.Records, h.Created.Format(time.RFC3339), h.OmenVersion, path)
	return 0
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
	prog := &progressLine{w: stderr, tty: tty.IsTerminal(stderr), now: time.Now}
	rep, err := store.Verify(ctx, store.VerifyOptions{Path: dir, SkipRecords: tablesOnly, Progress: prog.showVerify,
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
		fmt.Fprintf(stderr, "omen store verify: the store at %q is damaged (listed above): restore %q from a backup (omen store restore) or a copy taken while omen was stopped "+
			"(what was stored since is lost), or move it away to start with an empty store (everything it held is lost; "+
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

// progressLine redraws a progress line on a terminal, at most 10 times
// a second; elsewhere it prints nothing.
type progressLine struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	last  time.Time
	drawn bool
}

// draw draws the line line returns, unless one was drawn within 100 ms.
func (p *progressLine) draw(line func() string) {
	if !p.tty {
		return
	}
	now := p.now()
	if now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.drawn = now, true
	fmt.Fprintf(p.w, "\r\033[K%s", line())
}

// showVerify draws store.Verify's progress.
func (p *progressLine) showVerify(v store.VerifyProgress) {
	p.draw(func() string {
		line := fmt.Sprintf("omen store verify: tables %d/%d (%s of %s)", v.Tables, v.TablesTotal, sizeText(v.TableBytes), sizeText(v.TableBytesTotal))
		if v.Records > 0 {
			line += fmt.Sprintf(", records %d of about %d", v.Records, max(v.Records, v.RecordsTotal))
		}
		return line
	})
}

// showBackup draws a backup's progress: the records when known (a
// backup of a stopped omen's store), and the bytes.
func (p *progressLine) showBackup(v store.BackupProgress) {
	p.draw(func() string {
		if v.Records > 0 {
			return fmt.Sprintf("omen store backup: %d records, %s", v.Records, sizeText(v.Bytes))
		}
		return "omen store backup: " + sizeText(v.Bytes) + " received"
	})
}

// showRestore draws a restore's progress: the bytes read of size (0:
// not known).
func (p *progressLine) showRestore(v store.BackupProgress, size int64) {
	p.draw(func() string {
		if size > 0 {
			return fmt.Sprintf("omen store restore: %s of %s read", sizeText(v.Bytes), sizeText(size))
		}
		return "omen store restore: " + sizeText(v.Bytes) + " read"
	})
}

// clear erases the progress line, if one was drawn.
func (p *progressLine) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
