// The tables of a sweep's aggregate (aggregate.h): CSV and JSON files, and a fixed-width text
// table for the terminal. Accuracies are fractions in the files, percent in the text table.
// Files are written atomically (io::write_file_atomic).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gift/experiment/aggregate.h"

namespace gift::experiment {

// The table as CSV: a header row, then one row per aggregate; numbers with enough digits to
// round-trip; an undefined recovery is an empty field.
std::string table_csv(const std::vector<AggregateRow>& rows);

// The table as a JSON array; each statistic is {"mean", "ci": [low, high], "n"}, recovery null
// when undefined.
nlohmann::json table_json(const std::vector<AggregateRow>& rows);

// Writes dir/table.csv and dir/table.json atomically. Throws InputError if it cannot.
void write_tables(const std::string& dir, const std::vector<AggregateRow>& rows);

// A fixed-width text table for the terminal: accuracies in % with intervals, relative
// improvement in %, recovery, device passes, digital seconds. Ends with a newline.
std::string format_table(const std::vector<AggregateRow>& rows);

}  // namespace gift::experiment
