package training

import (
	"context"
	"errors"
	"fmt"

	"github.com/omen-sre/omen/training/dataset"
)

// EntityError is an entity of EvalDataset that failed while it was being
// evaluated, after every entity's files had passed checkEntities.
type EntityError struct {
	Entity string `json:"entity"`
	Error  string `json:"error"`
}

// checkEntities reads the files of every entity before any is trained (the
// header, every row and its column count, the labels, the interpretation
// file and the training length), so that a bad file of a late entity is
// reported before hours of training, not after: a run stopped at the
// first bad entity lost the ones already trained. Every entity's problem
// is reported, not only the first. Reading costs about a third of a
// second per SMD entity; one entity is in memory at a time.
func checkEntities(ctx context.Context, opts EvalOptions, names []string) error {
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("check entities: %w", err)
		}
		if err := checkEntity(opts, name); err != nil {
			errs = append(errs, fmt.Errorf("entity %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// checkEntity loads one entity as evalEntity does and checks what
// evalEntity would reject before training.
func checkEntity(opts EvalOptions, name string) error {
	ent, err := dataset.LoadEntity(opts.Dir, name)
	if err != nil {
		return err
	}
	_, err = trainRows(opts, ent)
	return err
}

// trainRows returns the training rows evalEntity uses (the first
// MaxTrainSteps when set) or an error when they are fewer than
// minTrainRows.
func trainRows(opts EvalOptions, ent *dataset.Entity) (*dataset.Series, error) {
	train := ent.Train
	if opts.MaxTrainSteps > 0 && train.Steps() > opts.MaxTrainSteps {
		train = train.Slice(0, opts.MaxTrainSteps)
	}
	if need := opts.minTrainRows(); train.Steps() < need {
		limited := ""
		if opts.MaxTrainSteps > 0 && ent.Train.Steps() > train.Steps() {
			limited = fmt.Sprintf(" (the first %d of %d)", train.Steps(), ent.Train.Steps())
		}
		return nil, fmt.Errorf("%s: %d rows%s, need at least %d (a window of %d steps and its target in both the training part and the held-out %g %% validation tail, and %d calibration scores for the threshold)",
			ent.TrainFile, train.Steps(), limited, need, opts.Window+opts.Gap, 100*opts.ValFraction, minCalibrationScores)
	}
	return train, nil
}
