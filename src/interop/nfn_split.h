// The published split files of the generalisation benchmark on the Small CNN Zoo (NFN and its
// successors; BENCHMARKS.md §2) as a data.split_file. A published file is a headerless CSV of row
// indices into weights.npy / metrics.csv: the order in which the rows are read. The protocol keeps
// the rows of the final step (86), in that order; the second half is the test set, the first half
// is shuffled with Python's random.Random(0) and cut 80/20 into train and validation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hyperrep::interop {

// Python's random.Random(seed) (Mersenne Twister seeded by init_by_array, as CPython does for a
// non-negative int below 2^32) and the two calls the protocol makes, bit for bit.
class PythonRandom {
 public:
  explicit PythonRandom(uint32_t seed);
  uint32_t getrandbits32();
  // random.Random.shuffle: for i from n-1 down to 1, swap x[i] with x[randbelow(i + 1)].
  void shuffle(std::vector<int64_t>& x);

 private:
  uint64_t below(uint64_t n);  // _randbelow_with_getrandbits, n < 2^32
  uint32_t mt_[624];
  int index_ = 624;
};

struct NfnSplitResult {
  int64_t rows = 0, final_rows = 0, train = 0, val = 0, test = 0;
};

// Writes `out` (data.split_file format: run,split) from the published index file `indices` and the
// Small CNN Zoo dataset directory `source` (its metrics.csv.gz or metrics.csv: modeldir and step of
// every row). DataError naming the file and line for an index out of range or listed twice, a file
// that does not list every row, a run with two final rows.
NfnSplitResult convert_nfn_split(const std::string& indices, const std::string& source, const std::string& out,
                                 int64_t final_step = 86);

}  // namespace hyperrep::interop
