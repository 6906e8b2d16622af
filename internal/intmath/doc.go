// Package intmath holds integer helpers shared by omen's packages.
package intmath
