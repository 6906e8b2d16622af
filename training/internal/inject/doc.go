// Command inject builds a label-free validation folder for the root-cause
// ranking from the training files only: for each entity E in -src it writes
// E.train.csv (the first 80 % of E's training file), E.test.csv (the last
// 20 % with synthetic anomalies injected into random features, labelled)
// and E.interpretation.txt (the injected features of each segment). No test
// file of -src is read.
package main
