// The report of a misspecification sweep (SPEC.md §5), in four parts, each with its own header:
//
//   results.h    parse_results / read_results: one StudyRow per finished cell of
//                DIR/results.jsonl (and row_to_json, the one writer of a row)
//   aggregate.h  aggregate: one AggregateRow per (grid, assumed, true, method), over seeds
//   tables.h     write_tables / format_table / table_csv / table_json
//   figures.h    write_figures (gnuplot), and the figure building blocks the frontier shares
//
// with number_text.h for the numbers they print. This header includes all of them, for callers
// (`gift report`) that use the whole chain.
#pragma once

#include "gift/experiment/aggregate.h"
#include "gift/experiment/figures.h"
#include "gift/experiment/number_text.h"
#include "gift/experiment/results.h"
#include "gift/experiment/tables.h"
