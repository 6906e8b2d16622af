// Command scoreprobe summarises dumped scores against labels (development).
package main
