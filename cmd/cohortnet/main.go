// Command cohortnet is the one binary of cohortnet: it de-identifies hospital
// exports, publishes and fetches cohort datasets, runs a node of the consortium
// network, and queries cohorts. Each subcommand lives in its own file, parses
// its flags into a configuration and calls the package that does the work.
package main

import "os"

func main() { os.Exit(run(os.Args[1:])) }
