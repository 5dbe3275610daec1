#include "interop/nfn_split.h"

#include <filesystem>
#include <unordered_set>

#include "common/csv.h"
#include "common/error.h"
#include "common/format.h"
#include "common/fs.h"
#include "interop/csv_file.h"

namespace hyperrep::interop {

PythonRandom::PythonRandom(uint32_t seed) {
  // init_genrand(19650218), then init_by_array with the one-word key {seed} (CPython's random_seed).
  mt_[0] = 19650218u;
  for (int i = 1; i < 624; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  const uint32_t key[1] = {seed};
  int i = 1, j = 0;
  for (int k = 624; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
    if (++i >= 624) mt_[0] = mt_[623], i = 1;
    if (++j >= 1) j = 0;
  }
  for (int k = 623; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    if (++i >= 624) mt_[0] = mt_[623], i = 1;
  }
  mt_[0] = 0x80000000u;
}

uint32_t PythonRandom::getrandbits32() {
  if (index_ >= 624) {
    for (int k = 0; k < 624; ++k) {
      const uint32_t y = (mt_[k] & 0x80000000u) | (mt_[(k + 1) % 624] & 0x7fffffffu);
      mt_[k] = mt_[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  return y ^ (y >> 18);
}

uint64_t PythonRandom::below(uint64_t n) {
  int bits = 0;
  while ((n >> bits) != 0) ++bits;  // n.bit_length()
  for (;;) {
    const uint64_t r = getrandbits32() >> (32 - bits);  // getrandbits(bits) for bits <= 32
    if (r < n) return r;
  }
}

void PythonRandom::shuffle(std::vector<int64_t>& x) {
  HYPERREP_CHECK(x.size() < (uint64_t{1} << 32), InternalError, "PythonRandom::shuffle: ", x.size(), " elements");
  for (size_t i = x.size(); i-- > 1;) std::swap(x[i], x[below(i + 1)]);
}

namespace {

struct RunSteps {
  std::vector<std::string> run;  // per row
  std::vector<int64_t> step;
};

RunSteps read_run_steps(const std::string& path) {
  LineReader in(path);
  std::string line;
  HYPERREP_CHECK(in.next(line), DataError, "'", path, "' is empty");
  const auto at = csv_columns(parse_csv_line(line), path);
  HYPERREP_CHECK(at.count("modeldir") && at.count("step"), DataError, "'", path, "' lacks the column modeldir or step");
  const size_t run = at.at("modeldir"), step = at.at("step"), need = std::max(run, step) + 1;
  RunSteps r;
  while (in.next(line)) {
    if (trim(line, kCsvBlanks).empty()) continue;
    const auto cells = parse_csv_line(line);
    const std::string where = "'" + path + "' line " + std::to_string(in.line_number());
    HYPERREP_CHECK(cells.size() >= need, DataError, where, ": ", cells.size(), " fields");
    r.run.push_back(trim(cells[run], kCsvBlanks));
    r.step.push_back(parse_csv_index(cells[step], where + " step"));
  }
  return r;
}

}  // namespace

NfnSplitResult convert_nfn_split(const std::string& indices, const std::string& source, const std::string& out,
                                 int64_t final_step) {
  namespace fs = std::filesystem;
  const std::string metrics = fs::exists(source + "/metrics.csv.gz") ? source + "/metrics.csv.gz" : source + "/metrics.csv";
  HYPERREP_CHECK(fs::exists(metrics), IoError, "'", source, "' has neither metrics.csv.gz nor metrics.csv");
  const RunSteps rows = read_run_steps(metrics);
  const int64_t n = static_cast<int64_t>(rows.run.size());

  // The published order: every row once.
  std::vector<int64_t> order;
  std::vector<char> seen(static_cast<size_t>(n), 0);
  LineReader in(indices);
  std::string line;
  while (in.next(line)) {
    if (trim(line, kCsvBlanks).empty()) continue;
    const std::string where = "'" + indices + "' line " + std::to_string(in.line_number());
    const int64_t r = parse_csv_index(trim(line, kCsvBlanks), where);
    HYPERREP_CHECK(r < n, DataError, where, ": row ", r, ", but '", metrics, "' has ", n,
                   " rows (is this the split file of another dataset?)");
    HYPERREP_CHECK(!seen[static_cast<size_t>(r)], DataError, where, ": row ", r, " is listed twice");
    seen[static_cast<size_t>(r)] = 1;
    order.push_back(r);
  }
  HYPERREP_CHECK(static_cast<int64_t>(order.size()) == n, DataError, "'", indices, "' lists ", order.size(), " rows, '", metrics,
                 "' has ", n, " (is this the split file of another dataset?)");

  std::vector<std::string> finals;  // runs of the final rows, in the published order
  std::unordered_set<std::string> runs;
  for (int64_t r : order) {
    if (rows.step[static_cast<size_t>(r)] != final_step) continue;
    const std::string& run = rows.run[static_cast<size_t>(r)];
    HYPERREP_CHECK(runs.insert(run).second, DataError, "'", metrics, "': run '", run, "' has step ", final_step, " twice");
    finals.push_back(run);
  }
  HYPERREP_CHECK(!finals.empty(), DataError, "'", metrics, "' has no row of step ", final_step);

  NfnSplitResult res;
  res.rows = n, res.final_rows = static_cast<int64_t>(finals.size());
  const int64_t half = res.final_rows / 2;  // int(0.5 * len)
  std::vector<int64_t> trainval(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) trainval[static_cast<size_t>(i)] = i;
  PythonRandom(0).shuffle(trainval);
  const auto val_point = static_cast<int64_t>(0.8 * static_cast<double>(half));  // int(0.8 * len), as Python computes it
  std::string csv = "run,split\n";
  for (int64_t i = 0; i < half; ++i)
    csv += csv_field(finals[static_cast<size_t>(trainval[static_cast<size_t>(i)])]) + (i < val_point ? ",train\n" : ",val\n");
  for (int64_t i = half; i < res.final_rows; ++i) csv += csv_field(finals[static_cast<size_t>(i)]) + ",test\n";
  res.train = val_point, res.val = half - val_point, res.test = res.final_rows - half;
  write_file_atomic(out, csv);
  return res;
}

}  // namespace hyperrep::interop
